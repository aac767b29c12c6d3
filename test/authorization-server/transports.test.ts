/**
 * The same requests through every way of serving the authorization server: `as.fetch` (under
 * @hono/node-server, the address passed by hand), the node:http adapter, the Express adapter,
 * and the Express adapter after `express.urlencoded()` read the body (the form rebuilt from
 * `req.body`). On the memory storage: the transports, not the storage, are under test.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { toExpressHandler } from '../../src/authorization-server/adapters/express.js';
import { toNodeHandler } from '../../src/authorization-server/adapters/node.js';
import { createAuthorizationServer, type AuthorizationServer } from '../../src/authorization-server/index.js';
import { createMemoryStorage } from '../../src/stores/memory.js';
import { openSignIn, statuses } from '../security/throttle-support.js';
import { alicePasswordHash, basic, decodeJwt, defaultClients, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, TRANSPORTS, type DPoPKey, type Running, type Transport } from './support/harness.js';

const ORIGIN = 'http://localhost:4002';
const cc = { grant_type: 'client_credentials' };
const isExpress = (t: Transport) => t.startsWith('express');

/** A body of `n` bytes sent in 16 KiB chunks without Content-Length. */
function chunked(n: number): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode(`x=${'a'.repeat(16 * 1024 - 2)}`);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= n) controller.close();
      else {
        controller.enqueue(chunk);
        sent += chunk.byteLength;
      }
    },
  });
}

describe.each(TRANSPORTS)('served through %s', (transport) => {
  const running: Running[] = [];
  let server: Running;
  let key: DPoPKey;
  const start = async (options: Parameters<typeof startServer>[1] = {}, path = '') => {
    const s = await startServer(createMemoryStorage(), options, path, transport);
    running.push(s);
    return s;
  };
  beforeAll(async () => {
    key = await dpopKey();
    server = await start({ corsOrigins: [ORIGIN] });
  });
  afterAll(async () => {
    for (const s of running) await s.close();
  });

  it('RFC 9449 §5: a token request with a DPoP proof gets a DPoP-bound token', async () => {
    const token = `${server.url}/token`;
    const res = await postForm(token, { ...cc, scope: 'read' }, { auth: basic('confidential', SECRET), dpop: await key.proof(token) });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body.token_type).toBe('DPoP');
    expect(decodeJwt(body.access_token).payload.cnf).toEqual({ jkt: key.jkt });
  });

  it('RFC 6749 §3.1: a repeated parameter is refused, also when a body parser read the form first', async () => {
    const res = await postForm(`${server.url}/token`, 'grant_type=client_credentials&scope=read&scope=write', { auth: basic('confidential', SECRET) });
    expect(res.status).toBe(400);
    expect((await res.json()).error_description).toMatch(/more than once/);
  });

  it('RFC 9126: PAR with a DPoP header (htu = the PAR endpoint), then the sign-in form POST and the code exchange', async () => {
    const p = pkce();
    const parUrl = `${server.url}/par`;
    const par = await postForm(parUrl, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256', state: 'st' }, { dpop: await key.proof(parUrl) });
    expect(par.status).toBe(201);
    const { request_uri } = await par.json();
    const back = await signIn(server.url, { client_id: 'spa', request_uri });
    expect(back.get('state')).toBe('st');
    const token = `${server.url}/token`;
    const res = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' }, { dpop: await key.proof(token) });
    expect(res.status).toBe(200);
    expect(decodeJwt((await res.json()).access_token).payload.cnf).toEqual({ jkt: key.jkt });
  });

  it('CORS: the preflight allows DPoP for a configured origin; answers expose DPoP-Nonce', async () => {
    const pre = await fetch(`${server.url}/token`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'dpop, content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(pre.headers.get('access-control-allow-methods')).toBe('POST');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/DPoP/);
    const res = await postForm(`${server.url}/token`, { grant_type: 'nope' }, { headers: { origin: ORIGIN } });
    expect(res.status).toBe(400);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(res.headers.get('access-control-expose-headers')).toMatch(/DPoP-Nonce/);
  });

  it('405 with Allow for another method; HEAD is GET without the content; JSON 404 (Express: the application\'s own)', async () => {
    const get = await fetch(`${server.url}/token`);
    expect([get.status, get.headers.get('allow'), (await get.json()).error]).toEqual([405, 'POST', 'invalid_request']);
    const headToken = await fetch(`${server.url}/token`, { method: 'HEAD' });
    expect([headToken.status, headToken.headers.get('allow')]).toEqual([405, 'POST']);
    const head = await fetch(`${server.url}/jwks`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/jwk-set+json');
    expect(await head.text()).toBe('');
    const jwks = await fetch(`${server.url}/jwks`);
    expect((await jwks.json()).keys.length).toBeGreaterThan(0);
    const missing = await fetch(`${server.url}/nope`);
    expect(missing.status).toBe(404);
    if (isExpress(transport)) expect(await missing.text()).toBe("the application's own 404");
    else expect((await missing.json()).error).toBe('invalid_request');
    // Paths are matched as sent: an encoded path is another path.
    expect((await fetch(`${server.url}/%74oken`, { method: 'POST' })).status).toBe(404);
  });

  it('RFC 6749 §3.2: wrong content type 400; a body over 64 KiB 413 (with Content-Length, or chunked without)', async () => {
    const json = await fetch(`${server.url}/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic('confidential', SECRET) }, body: '{"grant_type":"client_credentials"}' });
    expect([json.status, (await json.json()).error]).toEqual([400, 'invalid_request']);
    // 80 KB: over our limit, under express.urlencoded()'s own (100 KB): the server's JSON 413.
    const big = await postForm(`${server.url}/token`, `grant_type=client_credentials&x=${'a'.repeat(80_000)}`, { auth: basic('confidential', SECRET) });
    expect([big.status, (await big.json()).error]).toEqual([413, 'invalid_request']);
    // Larger ones: 413 (from express.urlencoded() itself when it reads first).
    const stream = await fetch(`${server.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: chunked(256 * 1024), duplex: 'half' } as RequestInit);
    expect(stream.status).toBe(413);
    await stream.text();
    // The connection still serves the next request.
    expect((await postForm(`${server.url}/token`, cc, { auth: basic('confidential', SECRET) })).status).toBe(200);
  });

  it('the client address reaches the throttle: sprayed guesses from one address are blocked for every username', async () => {
    const s = await start({ throttle: { address: { freeAttempts: 3, delay: 60, maxDelay: 60 }, username: { freeAttempts: 100 } } });
    const form = await openSignIn(s.url);
    let i = 0;
    expect(await statuses(4, () => form.post(`user-${i++}`, 'guess'))).toEqual([401, 401, 401, 429]);
  });

  it('behind a trusted proxy (trustProxy), the forwarded address is counted, the peer\'s is not', async () => {
    const s = await start({ throttle: { address: { freeAttempts: 2, delay: 60, maxDelay: 60 }, username: { freeAttempts: 100 }, trustProxy: { header: 'x-forwarded-for', addresses: ['127.0.0.1'] } } });
    const form = await openSignIn(s.url);
    let i = 0;
    const from = (address: string) => () => form.post(`user-${i++}`, 'guess', { 'x-forwarded-for': address });
    expect(await statuses(3, from('198.51.100.7'))).toEqual([401, 401, 429]);
    expect(await statuses(1, from('198.51.100.8'))).toEqual([401]);
  });

  it('an issuer with a path: the endpoints and metadata under it', async () => {
    const s = await start({}, '/oauth');
    const meta = await fetch(`${s.url}/.well-known/oauth-authorization-server`);
    expect(meta.status).toBe(200);
    expect((await meta.json()).token_endpoint).toBe(`${s.url}/token`);
    expect((await postForm(`${s.url}/token`, cc, { auth: basic('confidential', SECRET) })).status).toBe(200);
  });
});

describe('as.fetch without a server', () => {
  let as: AuthorizationServer;
  const issuer = 'https://as.example';
  beforeAll(async () => {
    as = await createAuthorizationServer({
      issuer,
      storage: createMemoryStorage(),
      clients: defaultClients(),
      users: [{ username: 'alice', passwordHash: await alicePasswordHash() }],
      throttle: { address: { freeAttempts: 2, delay: 60, maxDelay: 60 }, client: { freeAttempts: 100 } },
    });
  });
  afterAll(async () => {
    await as.close();
  });
  const token = (secret: string, info?: { remoteAddress?: string }) =>
    as.fetch(new Request(`${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('poster-less', secret) }, body: 'grant_type=client_credentials' }), info);

  it('info.remoteAddress is the address the throttle counts (a plain value; IPv6 by /64)', async () => {
    const wrong = (address?: string) => token('wrong', address === undefined ? undefined : { remoteAddress: address });
    const codes = async (n: number, address?: string) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await wrong(address)).status);
      return out;
    };
    // Unknown client ids fail client authentication; 2 free failures per address.
    expect(await codes(3, '203.0.113.9')).toEqual([401, 401, 429]);
    expect(await codes(1, '203.0.113.10')).toEqual([401]);
    expect(await codes(3, '2001:db8::1')).toEqual([401, 401, 429]);
    expect(await codes(1, '2001:db8::ffff')).toEqual([429]); // same /64
    // Without an address nothing is counted by address.
    expect(await codes(3)).toEqual([401, 401, 401]);
  });

  it('as.handles(pathname): the routes, as sent', () => {
    expect(as.handles('/token')).toBe(true);
    expect(as.handles('/.well-known/oauth-authorization-server')).toBe(true);
    expect(as.handles('/token/')).toBe(false);
    expect(as.handles('/%74oken')).toBe(false);
    expect(as.handles('/api/hello')).toBe(false);
  });

  it('a streamed body over the limit is 413, a body that fails to stream 400; never 500', async () => {
    const big = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(32 * 1024).fill(97));
      },
    });
    const over = await as.fetch(new Request(`${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: big, duplex: 'half' } as RequestInit));
    expect(over.status).toBe(413);
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        c.error(new Error('connection reset'));
      },
    });
    const failed = await as.fetch(new Request(`${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: broken, duplex: 'half' } as RequestInit));
    expect([failed.status, (await failed.json()).error]).toEqual([400, 'invalid_request']);
  });
});

describe('the adapters on their own', () => {
  let as: AuthorizationServer;
  const closers: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    as = await createAuthorizationServer({ issuer: 'http://127.0.0.1', storage: createMemoryStorage(), clients: defaultClients() });
  });
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });
  afterAll(async () => {
    await as.close();
  });
  async function listen(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const server = createServer(listener);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  /** A raw request (fetch cannot send an absolute-form target). */
  function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; text: string }> {
    const { port } = new URL(base);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('node: an absolute-form target is routed by its path; the origin is the issuer\'s, never Host', async () => {
    const base = await listen(toNodeHandler(as));
    const res = await raw(base, 'POST', 'http://evil.example/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('confidential', SECRET), host: 'evil.example' }, 'grant_type=client_credentials');
    expect(res.status).toBe(200);
    expect(decodeJwt(JSON.parse(res.text).access_token).payload.iss).toBe('http://127.0.0.1');
    expect((await raw(base, 'OPTIONS', '*')).status).toBe(404);
  });

  it('node: repeated header fields read as a web Request reads them (joined): two Authorization fields are not a valid Basic credential', async () => {
    const base = await listen(toNodeHandler(as));
    const { port } = new URL(base);
    const form = 'grant_type=client_credentials';
    // Written by hand: Node's client would merge the two fields.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.end(`POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n`
          + `Authorization: ${basic('confidential', SECRET)}\r\nauthorization: ${basic('confidential', 'wrong')}\r\nContent-Length: ${form.length}\r\n\r\n${form}`);
      });
      let text = '';
      socket.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve(text)).on('error', reject);
    });
    const status = { status: Number(reply.split(' ')[1]), text: reply.slice(reply.indexOf('\r\n\r\n') + 4) };
    // Node's req.headers would keep only the first (and issue a token); Headers joins them, and
    // the answer is the one a web Request with the same two fields gets.
    const web = await as.fetch(new Request('http://127.0.0.1/token', { method: 'POST', body: 'grant_type=client_credentials', headers: [
      ['content-type', 'application/x-www-form-urlencoded'], ['authorization', basic('confidential', SECRET)], ['authorization', basic('confidential', 'wrong')],
    ] }));
    expect({ status: status.status, body: JSON.parse(status.text) }).toEqual({ status: web.status, body: await web.json() });
    expect(JSON.parse(status.text).access_token).toBeUndefined();
  });

  it('node: a client that goes away in the middle of its body leaves no request waiting forever', async () => {
    const handler = toNodeHandler(as);
    let settled: Promise<void> | undefined;
    const base = await listen((req, res) => {
      settled = handler(req, res);
    });
    const { port } = new URL(base);
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '1000', authorization: basic('confidential', SECRET) } });
    req.on('error', () => {});
    req.write('grant_type=');
    await new Promise((r) => setTimeout(r, 100));
    req.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBeDefined();
    await expect(Promise.race([settled!.then(() => 'settled'), new Promise((r) => setTimeout(() => r('waiting'), 2000))])).resolves.toBe('settled');
  });

  it('node: options.remoteAddress chooses the address the throttle sees', async () => {
    const limited = await createAuthorizationServer({ issuer: 'http://127.0.0.1', storage: createMemoryStorage(), clients: defaultClients(), throttle: { address: { freeAttempts: 1, delay: 60, maxDelay: 60 }, client: { freeAttempts: 100 } } });
    closers.push(() => limited.close());
    let address = '192.0.2.1';
    const base = await listen(toNodeHandler(limited, { remoteAddress: () => address }));
    const wrong = () => postForm(`${base}/token`, cc, { auth: basic('confidential', 'wrong') });
    expect((await wrong()).status).toBe(401);
    expect((await wrong()).status).toBe(429);
    address = '192.0.2.2';
    expect((await wrong()).status).toBe(401);
  });

  it('express: other paths and methods go on to the application; its middleware and headers stay', async () => {
    const app = express();
    app.use((_req, res, next) => {
      res.setHeader('x-app', 'yes');
      next();
    });
    app.use(toExpressHandler(as));
    app.get('/hello', (_req, res) => {
      res.send('hello');
    });
    const base = await listen(app);
    expect(await (await fetch(`${base}/hello`)).text()).toBe('hello');
    const jwks = await fetch(`${base}/jwks`);
    expect([jwks.status, jwks.headers.get('x-app')]).toEqual([200, 'yes']);
  });

  it('express: after express.json(), express.text() or express.raw(), the form still arrives', async () => {
    for (const parser of [express.json(), express.text({ type: '*/*' }), express.raw({ type: '*/*' })]) {
      const app = express();
      app.use(parser);
      app.use(toExpressHandler(as));
      const base = await listen(app);
      const ok = await postForm(`${base}/token`, cc, { auth: basic('confidential', SECRET) });
      expect(ok.status).toBe(200);
      const json = await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic('confidential', SECRET) }, body: '{"grant_type":"client_credentials"}' });
      expect([json.status, (await json.json()).error_description]).toEqual([400, expect.stringMatching(/x-www-form-urlencoded/)]);
    }
  });

  it('express: a form body consumed by a middleware that left no req.body is a clear configuration error (next(err)), not a silent empty form', async () => {
    const app = express();
    app.use((req, _res, next) => {
      req.resume();
      req.on('end', () => next());
    });
    app.use(toExpressHandler(as));
    let seen: unknown;
    app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      seen = err;
      res.status(500).end();
    });
    const base = await listen(app);
    const res = await postForm(`${base}/token`, cc, { auth: basic('confidential', SECRET) });
    expect(res.status).toBe(500);
    expect(String(seen)).toMatch(/an earlier middleware read the form body/);
  });
});
