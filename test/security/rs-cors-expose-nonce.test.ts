/**
 * Attack class: a browser client that cannot read `DPoP-Nonce` / `WWW-Authenticate`.
 *
 * CORS (Fetch standard) lets a script on another origin read only the response headers listed
 * in `Access-Control-Expose-Headers`. A server that lists them only on refusals hides the next
 * nonce carried by a 200 (RFC 9449 §8, §9): the browser client keeps a stale nonce, and every
 * following call costs a 401 round trip (or fails when retries are capped); and a server that
 * writes its list over the application's own (or the application over it) hides either the
 * application's headers or the challenge.
 *
 * Defence: whenever dpopkit sets `DPoP-Nonce` or `WWW-Authenticate` (success or refusal, every
 * adapter, and the authorization server's token / PAR answers) it lists them in
 * `Access-Control-Expose-Headers`, merged into whatever the application already listed: no name
 * lost, none twice, whatever its case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProof } from '../../src/index.js';
import { AsResponse } from '../../src/authorization-server/as-response.js';
import { createCors } from '../../src/authorization-server/cors.js';
import { createResourceServer, type ResourceServer } from '../../src/resource-server/index.js';
import { dpopKey, SECRET, basic, postForm, startServer, type Running as AsRunning } from '../authorization-server/support/harness.js';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { ADAPTERS } from '../resource-server/support/adapters.js';
import { startAuthServer, type AuthServer } from '../resource-server/support/auth-server.js';
import { newKey, raw, type RawResponse, type Running } from '../resource-server/support/http.js';

/** The exposed names, as a browser reads the header: a comma-separated list, case-insensitive. */
function exposed(value: string | string[] | null | undefined): string[] {
  const text = Array.isArray(value) ? value.join(',') : value ?? '';
  return text.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n.length > 0);
}

function expectExposed(value: string | string[] | null | undefined, names: string[]): void {
  const list = exposed(value);
  for (const name of names) expect(list, `${name} in "${String(value)}"`).toContain(name.toLowerCase());
  expect(new Set(list).size, `no name twice in "${String(value)}"`).toBe(list.length);
}

let as: AuthServer;
beforeAll(async () => {
  as = await startAuthServer();
});
afterAll(async () => {
  await as.close();
});

const API = 'http://127.0.0.1';

describe.each(ADAPTERS)('resource server through %s', (_name, start) => {
  let rs: ResourceServer;
  let key: Awaited<ReturnType<typeof newKey>>;
  let token: string;
  beforeAll(async () => {
    rs = createResourceServer({ issuer: as.url, audience: API, allowedHosts: ['127.0.0.1'], jwksUri: `${as.url}/jwks`, dpop: { nonce: { secret: 'n'.repeat(32) } }, bearer: 'reject' });
    key = await newKey();
    token = await as.mint({ aud: API, cnf: { jkt: key.jkt } });
  });

  /** A DPoP call to `api`; the proof carries `nonce` when given. */
  async function dpopCall(api: Running, nonce?: string): Promise<RawResponse> {
    const proof = await createProof(key, { htm: 'GET', htu: `${api.base}/resource`, accessToken: token, ...(nonce ? { nonce } : {}) });
    return raw(api.base, '/resource', 'GET', [['Origin', 'http://app.example'], ['Authorization', `DPoP ${token}`], ['DPoP', proof]]);
  }

  /** 401 use_dpop_nonce, then the retry: the 200 carries the next nonce. */
  async function challengeThenSuccess(api: Running): Promise<{ challenge: RawResponse; ok: RawResponse }> {
    const challenge = await dpopCall(api);
    expect(challenge.status).toBe(401);
    const nonce = challenge.headers['dpop-nonce'] as string;
    expect(nonce).toBeTruthy();
    const ok = await dpopCall(api, nonce);
    expect(ok.status).toBe(200);
    expect(ok.headers['dpop-nonce']).toBeTruthy();
    return { challenge, ok };
  }

  it('a 200 carrying DPoP-Nonce exposes it (no CORS layer of the application\'s own)', async () => {
    const api = await start(rs);
    try {
      const { challenge, ok } = await challengeThenSuccess(api);
      expectExposed(ok.headers['access-control-expose-headers'], ['DPoP-Nonce']);
      expectExposed(challenge.headers['access-control-expose-headers'], ['WWW-Authenticate', 'DPoP-Nonce']);
    } finally {
      await api.close();
    }
  });

  it('the application\'s own exposed headers are kept, on the 401 and on the 200', async () => {
    const api = await start(rs, { appExpose: 'X-Request-Id, X-RateLimit-Remaining' });
    try {
      const { challenge, ok } = await challengeThenSuccess(api);
      expectExposed(challenge.headers['access-control-expose-headers'], ['WWW-Authenticate', 'DPoP-Nonce', 'X-Request-Id', 'X-RateLimit-Remaining']);
      expectExposed(ok.headers['access-control-expose-headers'], ['DPoP-Nonce', 'X-Request-Id', 'X-RateLimit-Remaining']);
      expect(ok.headers['access-control-allow-origin']).toBe('*');
    } finally {
      await api.close();
    }
  });

  it('names the application already exposes, in any case, are not listed twice', async () => {
    if (_name === 'Web Request') return; // on refusals the Web application appends its own list itself
    const api = await start(rs, { appExpose: 'x-request-id, dpop-nonce, WWW-AUTHENTICATE' });
    try {
      const { challenge, ok } = await challengeThenSuccess(api);
      expectExposed(challenge.headers['access-control-expose-headers'], ['WWW-Authenticate', 'DPoP-Nonce', 'X-Request-Id']);
      expectExposed(ok.headers['access-control-expose-headers'], ['DPoP-Nonce', 'X-Request-Id']);
    } finally {
      await api.close();
    }
  });

  it('a 403 insufficient_scope challenge is exposed too', async () => {
    const api = await start(rs, { scopes: ['admin'], appExpose: 'X-Request-Id' });
    try {
      const first = await dpopCall(api);
      const res = await dpopCall(api, first.headers['dpop-nonce'] as string);
      expect(res.status).toBe(403);
      expect(res.headers['www-authenticate']).toContain('insufficient_scope');
      expectExposed(res.headers['access-control-expose-headers'], ['WWW-Authenticate', 'X-Request-Id']);
    } finally {
      await api.close();
    }
  });
});

describe('authorization server token answers (CORS for allowed origins)', () => {
  const ORIGIN = 'http://app.example';
  let server: AsRunning;
  let closeStorage: () => Promise<void>;
  beforeAll(async () => {
    const storage = createPGliteStorage();
    closeStorage = () => storage.close();
    server = await startServer(storage, { corsOrigins: [ORIGIN], dpop: { nonce: {} } });
  });
  afterAll(async () => {
    await server?.close();
    await closeStorage?.();
  });

  it('RFC 9449 §8: the use_dpop_nonce refusal and the 200 both expose DPoP-Nonce and WWW-Authenticate', async () => {
    const key = await dpopKey();
    const form = { grant_type: 'client_credentials', scope: 'read' };
    const headers = { origin: ORIGIN };
    const first = await postForm(`${server.url}/token`, form, { auth: basic('confidential', SECRET), dpop: await key.proof(`${server.url}/token`), headers });
    expect(first.status).toBe(400);
    const nonce = first.headers.get('dpop-nonce')!;
    expect(nonce).toBeTruthy();
    expect(first.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expectExposed(first.headers.get('access-control-expose-headers'), ['DPoP-Nonce', 'WWW-Authenticate']);
    const ok = await postForm(`${server.url}/token`, form, { auth: basic('confidential', SECRET), dpop: await key.proof(`${server.url}/token`, { nonce }), headers });
    expect(ok.status).toBe(200);
    expectExposed(ok.headers.get('access-control-expose-headers'), ['DPoP-Nonce', 'WWW-Authenticate']);
  });

  it('a list the answer already carries is merged, not replaced (no name twice)', () => {
    const cors = createCors([ORIGIN]);
    const request = new Request('http://as.example/token', { method: 'POST', headers: { origin: ORIGIN } });
    const response = cors.decorate(request, new AsResponse('{}', 200, { 'Access-Control-Expose-Headers': 'X-Request-Id, dpop-nonce' }));
    expectExposed(response.headers.get('access-control-expose-headers'), ['X-Request-Id', 'DPoP-Nonce', 'WWW-Authenticate']);
  });
});
