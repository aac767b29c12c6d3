/**
 * htu reconstruction (RFC 9449 §4.3 (9)): the origin must be known, Host grammar checked before
 * any URL is built (auth0 node-oauth2-jwt-bearer #244), the one header a trusted proxy sets,
 * public base URL with a path prefix, allowed hosts and origins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProof } from '../../src/index.js';
import { createUrlResolver, ORIGIN_REQUIRED, ResourceServerError } from '../../src/resource-server/index.js';
import type { RequestLike } from '../../src/resource-server/index.js';
import { startAuthServer, type AuthServer } from './support/auth-server.js';
import { call, newKey, raw, startHonoApi, startNodeApi } from './support/http.js';
import { testRs } from './support/rs.js';

const req = (headers: Record<string, string | string[]>, extra: Partial<RequestLike> = {}): RequestLike => ({ method: 'GET', url: '/items?q=1', headers, ...extra });

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ResourceServerError) return `${err.status} ${err.reason}`;
    throw err;
  }
  return undefined;
}

describe('request URL policy (unit)', () => {
  // The development opt-out: only the Host grammar stands between the client and the URL.
  const anyHost = createUrlResolver({ dangerouslyTrustHostHeader: true });

  it('the origin must be known: no publicUrl, allowedHosts or opt-out → TypeError with a code naming what to set', () => {
    let thrown: unknown;
    try {
      createUrlResolver();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as { code?: string }).code).toBe(ORIGIN_REQUIRED);
    expect((thrown as Error).message).toMatch(/publicUrl.*allowedHosts.*dangerouslyTrustHostHeader/s);
    expect(() => createUrlResolver({ allowedHosts: [] })).toThrow(TypeError);
    expect(() => createUrlResolver({ dangerouslyTrustHostHeader: true, allowedHosts: ['a.example'] })).toThrow(/contradicts/);
    expect(() => createUrlResolver({ dangerouslyTrustHostHeader: true, publicUrl: 'https://a.example' })).toThrow(/contradicts/);
    expect(() => createUrlResolver({ allowedHosts: ['a.example/x'] })).toThrow(TypeError);
    expect(() => createUrlResolver({ allowedHosts: ['https://a.example/path'] })).toThrow(TypeError);
    expect(() => createUrlResolver({ allowedHosts: ['ftp://a.example'] })).toThrow(TypeError);
  });

  it('RFC 9449 §4.3 (9): scheme + validated Host + path, query dropped', () => {
    expect(anyHost(req({ host: 'API.example.com:8443' }))).toBe('http://api.example.com:8443/items');
    expect(anyHost(req({ host: 'api.example.com' }, { protocol: 'https' }))).toBe('https://api.example.com/items');
    expect(anyHost(req({ host: '[::1]:8080' }))).toBe('http://[::1]:8080/items');
    // RFC 3986 §6.2.3: the default port is the same origin
    expect(anyHost(req({ host: 'api.example.com:443' }, { protocol: 'https' }))).toBe('https://api.example.com/items');
    expect(anyHost(req({ host: 'api.example.com:080' }))).toBe('http://api.example.com/items');
  });

  it('auth0 #244: a Host carrying a path, query, fragment, userinfo, spaces or a bad port is refused (400), never laundered', () => {
    for (const host of ['api.example.com/other?', 'api.example.com/other#', 'api.example.com?', 'user@api.example.com', 'api.example.com:99999', 'api example.com', 'api.example.com\\x', '', 'a..b', 'api.example.com:', '[fe80::1%25eth0]']) {
      expect(reasonOf(() => anyHost(req({ host }))), host).toBe('400 bad_host');
    }
  });

  it('RFC 9112 §3.2: two Host headers (repeated, or joined by a Web Headers object), or none, are refused', () => {
    expect(reasonOf(() => anyHost(req({ host: ['a.example', 'b.example'] })))).toBe('400 bad_host');
    expect(reasonOf(() => anyHost(req({ host: ['a.example', 'a.example'] })))).toBe('400 bad_host');
    expect(reasonOf(() => anyHost(req({ host: 'a.example, b.example' })))).toBe('400 bad_host');
    expect(reasonOf(() => anyHost(req({})))).toBe('400 bad_host');
  });

  it('an absolute URL (absolute-form target, Web Request) must agree with the Host header it was built from', () => {
    expect(anyHost({ method: 'GET', url: 'https://api.example.com/items?x', headers: { host: 'api.example.com' } })).toBe('https://api.example.com/items');
    expect(anyHost({ method: 'GET', url: 'https://api.example.com/items', headers: { host: 'API.example.com:443' } })).toBe('https://api.example.com/items');
    expect(reasonOf(() => anyHost({ method: 'GET', url: 'http://api.example.com/other?/items', headers: { host: 'api.example.com/other?' } }))).toBe('400 bad_host');
    expect(reasonOf(() => anyHost({ method: 'GET', url: 'http://a.example/items', headers: { host: 'b.example' } }))).toBe('400 host_mismatch');
    // on a connection whose scheme is known, the target cannot claim another
    expect(reasonOf(() => anyHost({ method: 'GET', url: 'https://a.example/items', headers: { host: 'a.example' }, protocol: 'http' }))).toBe('400 bad_request_target');
  });

  it('allowedHosts: names (any port), name:port, origins (scheme and port too); everything else refused', () => {
    const resolve = createUrlResolver({ allowedHosts: ['api.example.com', 'admin.example.com:8443', 'https://secure.example.com', 'http://[::1]:8080'] });
    expect(resolve(req({ host: 'api.example.com:8443' }))).toBe('http://api.example.com:8443/items');
    expect(resolve(req({ host: 'API.EXAMPLE.COM' }, { protocol: 'https' }))).toBe('https://api.example.com/items');
    expect(resolve(req({ host: 'admin.example.com:8443' }, { protocol: 'https' }))).toBe('https://admin.example.com:8443/items');
    expect(resolve(req({ host: 'secure.example.com' }, { protocol: 'https' }))).toBe('https://secure.example.com/items');
    expect(resolve(req({ host: 'secure.example.com:443' }, { protocol: 'https' }))).toBe('https://secure.example.com/items');
    expect(resolve(req({ host: '[::1]:8080' }))).toBe('http://[::1]:8080/items');
    for (const [host, protocol] of [
      ['evil.example', 'http'], ['api.example.com.', 'http'], ['admin.example.com', 'https'], ['admin.example.com:8444', 'https'],
      ['secure.example.com', 'http'], ['secure.example.com:8443', 'https'], ['[::1]:8081', 'http'], ['[::2]:8080', 'http'],
      ['127.0.0.1', 'http'], ['api.example.com.evil.example', 'http'],
    ] as const) {
      expect(reasonOf(() => resolve(req({ host }, { protocol }))), `${protocol} ${host}`).toBe('400 host_not_allowed');
    }
    // absolute-form targets name their own authority: it is checked like a Host
    expect(reasonOf(() => resolve({ method: 'GET', url: 'http://evil.example/items', headers: { host: 'evil.example' } }))).toBe('400 host_not_allowed');
    expect(reasonOf(() => resolve({ method: 'GET', url: 'http://evil.example/items', headers: { host: 'api.example.com' } }))).toBe('400 host_mismatch');
  });

  it('trustProxy names the one header its proxy sets; the host it gives must still be allowed', () => {
    expect(() => createUrlResolver({ allowedHosts: ['a.example'], trustProxy: { addresses: ['10.0.0.1'] } as never })).toThrow(/x-forwarded.*forwarded/);
    expect(() => createUrlResolver({ allowedHosts: ['a.example'], trustProxy: { addresses: [], header: 'x-forwarded' } })).toThrow(TypeError);
    expect(() => createUrlResolver({ allowedHosts: ['a.example'], trustProxy: { addresses: ['10.0.0.0/40'], header: 'x-forwarded' } })).toThrow(TypeError);
    expect(() => createUrlResolver({ publicUrl: 'https://a.example', trustProxy: { addresses: ['10.0.0.1'], header: 'x-forwarded' } })).toThrow(TypeError);

    const resolve = createUrlResolver({ allowedHosts: ['https://api.example.com', 'internal'], trustProxy: { addresses: ['10.0.0.0/8', '::1'], header: 'x-forwarded' } });
    const forwarded = { host: 'internal:8080', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' };
    expect(resolve(req(forwarded, { remoteAddress: '10.1.2.3' }))).toBe('https://api.example.com/items');
    expect(resolve(req(forwarded, { remoteAddress: '::ffff:10.1.2.3' }))).toBe('https://api.example.com/items');
    expect(resolve(req(forwarded, { remoteAddress: '::1' }))).toBe('https://api.example.com/items');
    // not from the proxy: forwarded headers are not read at all
    expect(resolve(req(forwarded, { remoteAddress: '192.168.1.1' }))).toBe('http://internal:8080/items');
    expect(resolve(req(forwarded))).toBe('http://internal:8080/items');
    // the proxy's host must be allowed
    expect(reasonOf(() => resolve(req({ ...forwarded, 'x-forwarded-host': 'evil.example' }, { remoteAddress: '10.0.0.1' })))).toBe('400 host_not_allowed');
    // a forwarded host is checked like a Host
    expect(reasonOf(() => resolve(req({ host: 'internal', 'x-forwarded-host': 'api.example.com/other?' }, { remoteAddress: '10.0.0.1' })))).toBe('400 bad_host');
    expect(reasonOf(() => resolve(req({ host: 'internal', 'x-forwarded-proto': 'gopher' }, { remoteAddress: '10.0.0.1' })))).toBe('400 bad_host');
  });

  it('trustProxy addresses: IPv6 CIDR blocks, any spelling of an address, IPv4-mapped peers, "*"; a bad entry is named', () => {
    const forwarded = { host: 'internal', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' };
    const behind = (addresses: string[]) => createUrlResolver({ allowedHosts: ['https://api.example.com', 'internal'], trustProxy: { addresses, header: 'x-forwarded' } });
    const v6 = behind(['fd00::/8', '2001:0db8:0000:0000:0000:0000:0000:0001']);
    expect(v6(req(forwarded, { remoteAddress: 'fd12:3456::7' }))).toBe('https://api.example.com/items');
    expect(v6(req(forwarded, { remoteAddress: '2001:db8::1' }))).toBe('https://api.example.com/items'); // same address, compressed
    expect(v6(req(forwarded, { remoteAddress: 'fe80::1' }))).toBe('http://internal/items'); // outside fd00::/8
    expect(v6(req(forwarded, { remoteAddress: '2001:db8::2' }))).toBe('http://internal/items');
    const v4 = behind(['10.0.0.0/8']);
    expect(v4(req(forwarded, { remoteAddress: '::ffff:10.9.9.9' }))).toBe('https://api.example.com/items');
    expect(v4(req(forwarded, { remoteAddress: '11.0.0.1' }))).toBe('http://internal/items');
    // "*": every peer, and a runtime that gives no peer address
    const any = behind(['*']);
    expect(any(req(forwarded, { remoteAddress: '203.0.113.9' }))).toBe('https://api.example.com/items');
    expect(any(req(forwarded))).toBe('https://api.example.com/items');
    for (const bad of ['proxy.internal', '10.0.0.0/33', 'fd00::/129', '10.0.0.256', '']) {
      expect(() => behind([bad]), bad).toThrow(`trustProxy.addresses: ${JSON.stringify(bad)} is not an IP address or CIDR block`);
    }
  });

  it('Spring gh-16940: publicUrl with a path prefix for gateway-mounted APIs; Host is not used (unless allowedHosts is given too)', () => {
    const resolve = createUrlResolver({ publicUrl: 'https://gw.example.com/svc/orders/' });
    expect(resolve(req({ host: 'pod-7:3000' }))).toBe('https://gw.example.com/svc/orders/items');
    expect(resolve(req({}))).toBe('https://gw.example.com/svc/orders/items');
    expect(() => createUrlResolver({ publicUrl: '/relative' })).toThrow(TypeError);
    expect(() => createUrlResolver({ publicUrl: 'https://x.example/?q' })).toThrow(TypeError);
    const checked = createUrlResolver({ publicUrl: 'https://gw.example.com/svc', allowedHosts: ['pod-7'] });
    expect(checked(req({ host: 'pod-7:3000' }))).toBe('https://gw.example.com/svc/items');
    expect(reasonOf(() => checked(req({ host: 'evil.example' })))).toBe('400 host_not_allowed');
  });

  it('an origin-form target must start with "/"', () => {
    expect(reasonOf(() => anyHost({ method: 'OPTIONS', url: '*', headers: { host: 'a.example' } }))).toBe('400 bad_request_target');
  });
});

describe('request URL policy over HTTP', () => {
  let as: AuthServer;
  beforeAll(async () => {
    as = await startAuthServer();
  });
  afterAll(async () => {
    await as.close();
  });

  it.each([['node:http', startNodeApi], ['Hono', startHonoApi]] as const)('auth0 #244 through %s: a proof stolen from /other, replayed to /resource with Host "<host>/other?", is refused', async (name, start) => {
    const t = testRs(as, { jwksUri: `${as.url}/jwks` });
    const api = await start(t.rs);
    try {
      const key = await newKey();
      const token = await as.mint({ cnf: { jkt: key.jkt } });
      const stolen = await createProof(key, { htm: 'GET', htu: `${api.base}/other`, accessToken: token });
      const host = new URL(api.base).host;
      const res = await raw(api.base, '/resource', 'GET', [['Host', `${host}/other?`], ['Authorization', `DPoP ${token}`], ['DPoP', stolen]]);
      expect(res.status).toBe(400);
      // @hono/node-server refuses such a Host itself before the middleware runs; node:http reaches us
      if (name === 'node:http') expect(t.lastReason()).toBe('bad_host');
      // the honest request with that proof's own endpoint still works
      expect((await raw(api.base, '/other', 'GET', [['Authorization', `DPoP ${token}`], ['DPoP', stolen]])).status).toBe(200);
    } finally {
      await api.close();
    }
  });

  it('trustProxy: X-Forwarded-Proto/Host from a trusted peer (127.0.0.1) make https://api.example.com/... the htu; from an untrusted config they are ignored', async () => {
    const key = await newKey();
    const token = await as.mint({ cnf: { jkt: key.jkt } });
    const headers: Array<[string, string]> = [['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'api.example.com']];
    const trusting = testRs(as, { jwksUri: `${as.url}/jwks`, trustProxy: { addresses: ['127.0.0.1'], header: 'x-forwarded' } });
    const api = await startNodeApi(trusting.rs);
    const distrusting = testRs(as, { jwksUri: `${as.url}/jwks`, trustProxy: { addresses: ['10.0.0.1'], header: 'x-forwarded' } });
    const api2 = await startNodeApi(distrusting.rs);
    try {
      expect((await call(api.base, '/resource', token, { key, htu: 'https://api.example.com/resource', headers })).status).toBe(200);
      expect((await call(api2.base, '/resource', token, { key, htu: 'https://api.example.com/resource', headers })).status).toBe(401);
      expect(distrusting.lastReason()).toBe('htu_mismatch');
    } finally {
      await api.close();
      await api2.close();
    }
  });

  it('publicUrl: a proof for the gateway URL (with its path prefix) is accepted by the API behind it', async () => {
    const key = await newKey();
    const token = await as.mint({ cnf: { jkt: key.jkt } });
    const t = testRs(as, { jwksUri: `${as.url}/jwks`, publicUrl: 'https://gw.example.com/svc' });
    const api = await startHonoApi(t.rs);
    try {
      expect((await call(api.base, '/resource', token, { key, htu: 'https://gw.example.com/svc/resource' })).status).toBe(200);
      expect((await call(api.base, '/resource', token, { key })).status).toBe(401);
      expect(t.lastReason()).toBe('htu_mismatch');
    } finally {
      await api.close();
    }
  });
});
