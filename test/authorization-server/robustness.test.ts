/**
 * Peer bugs turned into tests (research/peers.md): concurrent copies of one proof
 * (node-oidc-provider's find-then-save replay check), split replay caches between servers
 * (giantswarm/mcp-oauth #389), nonces shared by a fleet, and a storage outage answered 503.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisReplayCache } from '../../src/stores/redis.js';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { basic, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type DPoPKey, type Running } from './support/harness.js';

describe.each(STORAGES)('robustness on $name', (factory) => {
  let server: Running;
  let cleanup: () => Promise<void>;
  let key: DPoPKey;

  beforeAll(async () => {
    const opened = await factory.open();
    cleanup = opened.cleanup;
    server = await startServer(opened.storage);
    key = await dpopKey();
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it('RFC 9449 §11.1 (node-oidc-provider TOCTOU): 30 concurrent copies of one proof give exactly one token', async () => {
    const token = `${server.url}/token`;
    const proof = await key.proof(token);
    const answers = await Promise.all(Array.from({ length: 30 }, () => postForm(token, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET), dpop: proof })));
    const bodies = await Promise.all(answers.map((r) => r.json()));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
    expect(bodies.filter((b) => b.error === 'invalid_dpop_proof' && /^replayed/.test(b.error_description))).toHaveLength(29);
  });
});

/** One PGlite database for the servers below that do not close theirs. */
const shared = createPGliteStorage();
afterAll(async () => {
  await shared.close();
});

describe('a fleet of authorization servers', () => {
  const prefix = `dpopkit:test:as:${process.pid}:${Date.now()}:`;
  const cache = () => createRedisReplayCache({ keyPrefix: prefix });
  const caches = [cache(), cache()];
  const storage = shared;
  let a: Running;
  let b: Running;
  beforeAll(async () => {
    // One public issuer in front of two servers sharing one database, one Redis replay cache
    // (each server its own connection) and one nonce secret.
    const options = { issuer: 'https://as.fleet.test', dpop: { nonce: { secret: 'fleet-secret-'.padEnd(40, 'x') } } };
    a = await startServer(storage, { ...options, replayCache: caches[0] });
    b = await startServer(storage, { ...options, replayCache: caches[1] });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    for (const c of caches) await c.close();
  });

  it('mcp-oauth #389: a proof spent at one server is refused by the other (shared Redis replay cache); nonces are shared', async () => {
    const key = await dpopKey();
    const htu = 'https://as.fleet.test/token';
    const first = await postForm(`${a.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET), dpop: await key.proof(htu) });
    expect(first.status).toBe(400);
    const nonce = first.headers.get('dpop-nonce')!;
    const proof = await key.proof(htu, { nonce });
    // The nonce from server A is accepted by server B.
    const atB = await postForm(`${b.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET), dpop: proof });
    expect(atB.status).toBe(200);
    const replayAtA = await postForm(`${a.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET), dpop: proof });
    expect(replayAtA.status).toBe(400);
    expect((await replayAtA.json()).error_description).toMatch(/^replayed/);
  });
});

describe('storage outage', () => {
  it('a failing database answers 503 temporarily_unavailable (never 500); client_credentials keeps working from caches', async () => {
    const storage = createPGliteStorage();
    const s = await startServer(storage);
    try {
      const key = await dpopKey();
      const token = `${s.url}/token`;
      // Warm the client cache, then take the database away.
      expect((await postForm(token, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET) })).status).toBe(200);
      const p = pkce();
      const back = await signIn(s.url, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' });
      await storage.close();
      const code = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' });
      expect(code.status).toBe(503);
      expect(code.headers.get('retry-after')).toBe('1');
      expect((await code.json()).error).toBe('temporarily_unavailable');
      const cc = await postForm(token, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET), dpop: await key.proof(token) });
      expect(cc.status).toBe(200);
      const par = await postForm(`${s.url}/par`, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' });
      expect(par.status).toBe(503);
    } finally {
      await s.close();
    }
  });
});

describe('replay cache outage', () => {
  it('RFC 9449 §11.1 fail closed: an unreachable replay cache answers 503 temporarily_unavailable, never accepts the proof', async () => {
    const storage = shared;
    const cache = createRedisReplayCache({ url: 'redis://127.0.0.1:1', keyPrefix: `dpopkit:test:down:${process.pid}:` });
    const s = await startServer(storage, { replayCache: cache });
    try {
      const key = await dpopKey();
      const token = `${s.url}/token`;
      const res = await postForm(token, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET), dpop: await key.proof(token) });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      const body = await res.json();
      expect(body.error).toBe('temporarily_unavailable');
      expect(body.error_description).toMatch(/^replay_cache_unavailable/);
    } finally {
      await s.close();
      await cache.close();
    }
  });
});

describe('logging', () => {
  it('refusals are logged with endpoint, error and reason, never with the proof, token or secret', async () => {
    const entries: unknown[] = [];
    const logger = { debug: (o: object) => void entries.push(o), info: (o: object) => void entries.push(o), warn: (o: object) => void entries.push(o), error: (o: object) => void entries.push(o) };
    const s = await startServer(shared, { logger });
    try {
      const key = await dpopKey();
      const proof = await key.proof(`${s.url}/elsewhere`);
      await postForm(`${s.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET), dpop: proof });
      expect(entries).toContainEqual({ endpoint: 'token', error: 'invalid_dpop_proof', reason: 'htu_mismatch', status: 400 });
      // The server's own reasons too, from the error's field; error_description presents it first.
      const missing = await postForm(`${s.url}/token`, {}, { auth: basic('confidential', SECRET) });
      expect(await missing.json()).toEqual({ error: 'invalid_request', error_description: 'missing_parameter: the "grant_type" parameter is missing' });
      expect(entries).toContainEqual({ endpoint: 'token', error: 'invalid_request', reason: 'missing_parameter', status: 400 });
      const text = JSON.stringify(entries);
      expect(text).not.toContain(proof);
      expect(text).not.toContain(SECRET);
    } finally {
      await s.close();
    }
  });
});
