/**
 * Attack: Host header injection against the resource server's `htu` check (RFC 9449 §4.3 (9)).
 *
 * Several APIs are reachable at one address (a shared gateway, a multi-tenant node, a test
 * server). A proof made for `http://other-api.example/...` is captured (logs, a malicious
 * API the client also calls) and replayed here with `Host: other-api.example`. A resource server
 * that builds the expected `htu` from the Host header accepts it: the proof was for another API.
 * (The pattern of auth0 node-oauth2-jwt-bearer's "htu from Host" report.)
 *
 * Defence: the resource server knows the origin(s) it serves (from `publicUrl`, `allowedHosts`,
 * or the origin of an http(s) `audience`) and refuses any other with 400 invalid_request,
 * reason `host_not_allowed`; without any of those it does not start. Every variant of the Host
 * (port, case, trailing dot, userinfo, IPv6, duplicates, absolute-form targets) goes through
 * every adapter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProof, findChallenge } from '../../src/index.js';
import { createResourceServer, ORIGIN_REQUIRED, type ResourceServer } from '../../src/resource-server/index.js';
import { ADAPTERS } from '../resource-server/support/adapters.js';
import { startAuthServer, type AuthServer } from '../resource-server/support/auth-server.js';
import { newKey, raw, type RawResponse, type Running } from '../resource-server/support/http.js';

/** The API's own origin: its audience, as an RFC 8707 resource indicator usually is. */
const API = 'http://api.example.com';
const OTHER = 'http://other-api.example';

let as: AuthServer;
beforeAll(async () => {
  as = await startAuthServer();
});
afterAll(async () => {
  await as.close();
});

function errorOf(res: RawResponse): string | undefined {
  return findChallenge(res.headers['www-authenticate'] as string, 'DPoP')?.params.error;
}

describe.each(ADAPTERS)('Host header injection through %s', (_name, start) => {
  let api: Running;
  let rs: ResourceServer;
  let key: Awaited<ReturnType<typeof newKey>>;
  let token: string;
  const reasons: unknown[] = [];
  beforeAll(async () => {
    const logger = { info: (o: object) => void reasons.push((o as { reason?: unknown }).reason), warn: () => {}, debug: () => {}, error: () => {} };
    // The default configuration: no publicUrl, no allowedHosts, no proxy settings.
    rs = createResourceServer({ issuer: as.url, audience: API, jwksUri: `${as.url}/jwks`, logger });
    api = await start(rs);
    key = await newKey();
    token = await as.mint({ aud: API, cnf: { jkt: key.jkt } });
  });
  afterAll(async () => {
    await api.close();
  });

  /** A request to the test server with this Host (and target), carrying a fresh proof for `htu`. */
  async function attempt(host: string | string[], htu: string, target = '/resource'): Promise<RawResponse> {
    const proof = await createProof(key, { htm: 'GET', htu, accessToken: token });
    const hosts = (Array.isArray(host) ? host : [host]).map((h) => ['Host', h] as [string, string]);
    return raw(api.base, target, 'GET', [...hosts, ['Authorization', `DPoP ${token}`], ['DPoP', proof]]);
  }

  it('the honest request: Host is the audience origin, the proof is for it → 200', async () => {
    const res = await attempt('api.example.com', `${API}/resource`);
    expect(res.status).toBe(200);
    expect(res.json().subject).toBe('alice');
  });

  it('the same origin spelled differently (upper case, explicit default port) is the same API → 200', async () => {
    expect((await attempt('API.Example.COM', `${API}/resource`)).status).toBe(200);
    expect((await attempt('api.example.com:80', `${API}/resource`)).status).toBe(200);
  });

  it('a proof for another API replayed with "Host: other-api.example" → 400 invalid_request, host_not_allowed', async () => {
    const res = await attempt('other-api.example', `${OTHER}/resource`);
    expect(res.status).toBe(400);
    expect(errorOf(res)).toBe('invalid_request');
    expect(res.json().error).toBe('invalid_request');
    expect(reasons.at(-1)).toBe('host_not_allowed');
    expect(rs.metrics().rejected.host_not_allowed).toBeGreaterThanOrEqual(1);
  });

  it.each([
    ['another port', 'api.example.com:8080', `${API}:8080/resource`],
    ['a trailing dot', 'api.example.com.', 'http://api.example.com./resource'],
    ['a suffix', 'api.example.com.evil.example', 'http://api.example.com.evil.example/resource'],
    ['an IP literal', '127.0.0.1', 'http://127.0.0.1/resource'],
    ['an IPv6 literal', '[::1]', 'http://[::1]/resource'],
    ['an IPv6 literal with port', '[::1]:80', 'http://[::1]/resource'],
  ])('a Host with %s is another origin → 400 host_not_allowed', async (_what, host, htu) => {
    const res = await attempt(host, htu);
    expect(res.status).toBe(400);
    expect(errorOf(res)).toBe('invalid_request');
    expect(reasons.at(-1)).toBe('host_not_allowed');
  });

  it.each([
    ['userinfo', 'user@api.example.com', 'http://user@api.example.com/resource'],
    ['a path and query (auth0 #244)', 'api.example.com/other?', `${API}/other`],
    ['an empty port', 'api.example.com:', `${API}/resource`],
  ])('a malformed Host (%s) is refused before any URL is built → 400', async (_what, host, htu) => {
    const res = await attempt(host, htu);
    expect(res.status).toBe(400);
  });

  it('two Host headers (one ours, one not) → 400, whichever comes first', async () => {
    for (const hosts of [['api.example.com', 'other-api.example'], ['other-api.example', 'api.example.com']]) {
      const res = await attempt(hosts, `${OTHER}/resource`);
      expect(res.status, hosts.join(' + ')).toBe(400);
      const res2 = await attempt(hosts, `${API}/resource`);
      expect(res2.status, hosts.join(' + ')).toBe(400);
    }
  });

  it('absolute-form target "GET http://other-api.example/resource": refused whatever the Host says', async () => {
    for (const host of ['other-api.example', 'api.example.com']) {
      const res = await attempt(host, `${OTHER}/resource`, `${OTHER}/resource`);
      expect(res.status, host).toBe(400);
    }
    // nor can an absolute-form target change the scheme of the connection
    expect((await attempt('api.example.com', 'https://api.example.com/resource', 'https://api.example.com/resource')).status).toBe(400);
    // the API's own origin in absolute form is fine
    expect((await attempt('api.example.com', `${API}/resource`, `${API}/resource`)).status).toBe(200);
  });

  it('an X-Forwarded-Host or Forwarded header from a client (no trusted proxy) changes nothing', async () => {
    const proof = await createProof(key, { htm: 'GET', htu: `${OTHER}/resource`, accessToken: token });
    for (const header of [['X-Forwarded-Host', 'other-api.example'], ['Forwarded', 'host=other-api.example']] as Array<[string, string]>) {
      const res = await raw(api.base, '/resource', 'GET', [['Host', 'api.example.com'], header, ['Authorization', `DPoP ${token}`], ['DPoP', proof]]);
      expect(res.status, header[0]).toBe(401);
      expect(errorOf(res)).toBe('invalid_dpop_proof');
      expect(reasons.at(-1)).toBe('htu_mismatch');
    }
  });
});

describe('the resource server must know its origin to start', () => {
  it('an audience that is not an http(s) URL, and no publicUrl / allowedHosts → TypeError with a code naming what to set', () => {
    let thrown: unknown;
    try {
      createResourceServer({ issuer: 'https://as.example.com', audience: 'urn:example:api' });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as { code?: string }).code).toBe(ORIGIN_REQUIRED);
    expect((thrown as Error).message).toContain('publicUrl');
    expect((thrown as Error).message).toContain('allowedHosts');
    expect((thrown as Error).message).toContain('dangerouslyTrustHostHeader');
  });

  it('each way of naming the origin is enough; the opt-out cannot be mixed with them', () => {
    const issuer = 'https://as.example.com';
    expect(() => createResourceServer({ issuer, audience: 'urn:example:api', publicUrl: 'https://api.example.com' })).not.toThrow();
    expect(() => createResourceServer({ issuer, audience: 'urn:example:api', allowedHosts: ['api.example.com'] })).not.toThrow();
    expect(() => createResourceServer({ issuer, audience: ['urn:example:api', 'https://api.example.com/v1'] })).not.toThrow();
    expect(() => createResourceServer({ issuer, audience: 'urn:example:api', dangerouslyTrustHostHeader: true })).not.toThrow();
    expect(() => createResourceServer({ issuer, audience: 'urn:example:api', dangerouslyTrustHostHeader: true, allowedHosts: ['api.example.com'] })).toThrow(TypeError);
  });

  it('an explicit allowedHosts replaces the audience origin (the operator said which hosts)', async () => {
    const as2 = as;
    const rs = createResourceServer({ issuer: as2.url, audience: API, jwksUri: `${as2.url}/jwks`, allowedHosts: ['api.internal'] });
    const key = await newKey();
    const token = await as2.mint({ aud: API, cnf: { jkt: key.jkt } });
    const verify = async (host: string) => {
      const proof = await createProof(key, { htm: 'GET', htu: `http://${host}/x`, accessToken: token });
      const result = await rs.verify({ method: 'GET', url: '/x', headers: { host, authorization: `DPoP ${token}`, dpop: proof } });
      return result.ok ? 200 : `${result.status} ${result.reason}`;
    };
    expect(await verify('api.internal')).toBe(200);
    expect(await verify('api.example.com')).toBe('400 host_not_allowed');
  });
});
