/**
 * Every adapter puts the principal where its users look and turns a refusal into that
 * framework's response; and Duende CVE-2024-49755: a token with a proof from another key is
 * refused through EVERY entry point (they all go through the one verify path).
 */
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChallenge } from '../../src/index.js';
import type { ResourceServer } from '../../src/resource-server/index.js';
import { fastifyDPoP } from '../../src/resource-server/adapters/fastify.js';
import { ADAPTERS } from './support/adapters.js';
import { startAuthServer, type AuthServer } from './support/auth-server.js';
import { call, newKey, raw, type Running } from './support/http.js';
import { testRs } from './support/rs.js';

let as: AuthServer;
beforeAll(async () => {
  as = await startAuthServer();
});
afterAll(async () => {
  await as.close();
});

describe.each(ADAPTERS)('%s adapter', (name, start) => {
  let api: Running;
  let rs: ResourceServer;
  let key: Awaited<ReturnType<typeof newKey>>;
  let token: string;
  beforeAll(async () => {
    rs = testRs(as, { jwksUri: `${as.url}/jwks`, dpop: { nonce: { secret: 'x'.repeat(32) } } }).rs;
    api = await start(rs);
    key = await newKey();
    token = await as.mint({ cnf: { jkt: key.jkt } });
  });
  afterAll(async () => {
    await api.close();
  });

  it('the principal lands where the framework users look for it; the next DPoP-Nonce is on the response', async () => {
    const challenge = await call(api.base, '/resource', token, { key });
    expect(challenge.status).toBe(401);
    const nonce = challenge.headers['dpop-nonce'] as string;
    const res = await call(api.base, '/resource', token, { key, nonce });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ subject: 'alice', jkt: key.jkt, scheme: 'DPoP' });
    if (name === 'Express') expect(res.json().fromLocals).toBe('alice');
    expect(res.headers['dpop-nonce']).toBe(nonce);
  });

  it('RFC 6750 §3.1: no credentials → 401 with the DPoP challenge (algs), JSON body, no-store', async () => {
    const res = await raw(api.base, '/resource', 'GET', []);
    expect(res.status).toBe(401);
    expect(findChallenge(res.headers['www-authenticate'] as string, 'DPoP')!.params.algs).toContain('ES256');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.json().error_description).toBeTruthy();
  });

  it('Duende CVE-2024-49755: a token presented with a valid proof from another key is refused (invalid_token)', async () => {
    const thief = await newKey();
    const challenge = await call(api.base, '/resource', token, { key: thief });
    const nonce = challenge.headers['dpop-nonce'] as string;
    const res = await call(api.base, '/resource', token, { key: thief, nonce });
    expect(res.status).toBe(401);
    expect(findChallenge(res.headers['www-authenticate'] as string, 'DPoP')!.params.error).toBe('invalid_token');
    expect(rs.metrics().rejected.jkt_mismatch).toBeGreaterThanOrEqual(1);
  });

  it('RFC 9449 §7.2: the bound token as Bearer is refused', async () => {
    const res = await call(api.base, '/resource', token, { scheme: 'Bearer', key: null });
    expect(res.status).toBe(401);
    expect(findChallenge(res.headers['www-authenticate'] as string, 'Bearer')!.params.error).toBe('invalid_token');
  });

  if (name === 'Express' || name === 'Fastify') {
    it('a route mounted under /api checks the full path the client signed', async () => {
      const first = await call(api.base, '/api/resource', token, { key });
      const nonce = first.headers['dpop-nonce'] as string;
      expect((await call(api.base, '/api/resource', token, { key, nonce })).status).toBe(200);
      expect((await call(api.base, '/api/resource', token, { key, nonce, htu: `${api.base}/resource` })).status).toBe(401);
    });
  }
});

describe('Fastify plugin details', () => {
  it('a refused request never reaches the route handler; hook "preHandler" works too; the plugin is not encapsulated', async () => {
    const rs = testRs(as, { jwksUri: `${as.url}/jwks` }).rs;
    const app = Fastify();
    let handled = 0;
    await app.register(fastifyDPoP, { resourceServer: rs, hook: 'preHandler' });
    app.get('/resource', async (request) => {
      handled++;
      return { subject: request.dpop?.subject };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const refused = await raw(base, '/resource', 'GET', []);
      expect(refused.status).toBe(401);
      expect(handled).toBe(0);
      const key = await newKey();
      const ok = await call(base, '/resource', await as.mint({ cnf: { jkt: key.jkt } }), { key });
      expect(ok.status).toBe(200);
      expect(ok.json()).toEqual({ subject: 'alice' });
      expect(handled).toBe(1);
    } finally {
      await app.close();
    }
  });
});
