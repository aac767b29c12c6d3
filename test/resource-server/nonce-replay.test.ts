/**
 * Resource-server nonces (RFC 9449 §9), replay (§11.1, Keycloak #43505), a replay cache that
 * cannot be reached (fail closed, 503), metrics and logging.
 */
import { describe, expect, it } from 'vitest';
import { createNonceSource, createProof, findChallenge, type ReplayCache } from '../../src/index.js';
import type { RequestLike, VerifyResult } from '../../src/resource-server/index.js';
import { type AuthServer, type AuthServerFixture, useAuthServer } from './support/auth-server.js';
import { call, startHonoApi, startNodeApi } from './support/http.js';
import { testRs } from './support/rs.js';

const SECRET = 'a nonce secret of at least 32 bytes, shared by the fleet';
let as: AuthServer;
let key: AuthServerFixture['key'];
let token: string;
useAuthServer((f) => ({ as, key, token } = f));

describe.each([['node:http', startNodeApi], ['Hono', startHonoApi]] as const)('RFC 9449 §9 resource-server nonces through %s', (_name, start) => {
  it('§9: a proof without a nonce → 401 use_dpop_nonce with DPoP-Nonce; the retry with it succeeds and carries the next nonce', async () => {
    const t = testRs(as, { jwksUri: `${as.url}/jwks`, dpop: { nonce: { secret: SECRET } } });
    const api = await start(t.rs);
    try {
      const first = await call(api.base, '/resource', token, { key });
      expect(first.status).toBe(401);
      const nonce = first.headers['dpop-nonce'] as string;
      expect(nonce).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/); // §8.1 NQCHAR
      expect(findChallenge(first.headers['www-authenticate'] as string, 'DPoP')!.params.error).toBe('use_dpop_nonce');
      expect(t.lastReason()).toBe('nonce_missing');
      const second = await call(api.base, '/resource', token, { key, nonce });
      expect(second.status).toBe(200);
      expect(second.headers['dpop-nonce']).toBe(nonce);
      expect(t.rs.metrics().nonceChallenges).toBe(1);
    } finally {
      await api.close();
    }
  });

  it('§9 / §11.3: a stale or foreign nonce → 401 use_dpop_nonce (never invalid_dpop_proof) with a fresh nonce', async () => {
    const t = testRs(as, { jwksUri: `${as.url}/jwks`, dpop: { nonce: { secret: SECRET } } });
    const api = await start(t.rs);
    try {
      const foreign = await createNonceSource({ secret: 'another secret, another fleet, 32+ bytes' }).current();
      const res = await call(api.base, '/resource', token, { key, nonce: foreign });
      expect(res.status).toBe(401);
      expect(findChallenge(res.headers['www-authenticate'] as string, 'DPoP')!.params.error).toBe('use_dpop_nonce');
      expect(res.headers['dpop-nonce']).toBe(await createNonceSource({ secret: SECRET }).current());
      expect(t.lastReason()).toBe('nonce_invalid');
    } finally {
      await api.close();
    }
  });
});

describe('nonces shared by a fleet, replay, failure modes', () => {
  const request = async (proofOptions: { iat?: number; nonce?: string } = {}, proof?: string): Promise<RequestLike> => ({
    method: 'GET', url: '/items', protocol: 'https',
    headers: { host: 'api.example.com', authorization: `DPoP ${token}`, dpop: proof ?? await createProof(key, { htm: 'GET', htu: 'https://api.example.com/items', accessToken: token, ...proofOptions }) },
  });
  const dpopOf = (r: RequestLike) => (r.headers as Record<string, string>).dpop!;
  const reasonOf = (r: VerifyResult) => (r.ok ? 'accepted' : r.reason);

  it('§9 stateless nonces: a nonce issued by one instance is accepted by another with the same secret', async () => {
    const a = testRs(as, { jwksUri: `${as.url}/jwks`, dpop: { nonce: { secret: SECRET } } }).rs;
    const b = testRs(as, { jwksUri: `${as.url}/jwks`, dpop: { nonce: { secret: SECRET } } }).rs;
    const challenge = await a.verify(await request());
    expect(challenge.ok).toBe(false);
    const nonce = (challenge as { headers: Record<string, string> }).headers['DPoP-Nonce']!;
    expect(reasonOf(await b.verify(await request({ nonce })))).toBe('accepted');
  });

  it('a NonceSource object may be passed directly', async () => {
    const source = createNonceSource({ secret: SECRET });
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, dpop: { nonce: source } });
    expect(reasonOf(await rs.verify(await request({ nonce: await source.current() })))).toBe('accepted');
  });

  it('Keycloak #43505: a proof inside the future-skew allowance is remembered and its replay refused', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    const r = await request({ iat: Math.floor(Date.now() / 1000) + 4 });
    expect(reasonOf(await rs.verify(r))).toBe('accepted');
    expect(reasonOf(await rs.verify(await request({}, dpopOf(r))))).toBe('replayed');
  });

  it('§11.1: a proof near the end of its window is still remembered; concurrent copies: exactly one accepted', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    const old = await request({ iat: Math.floor(Date.now() / 1000) - 290 });
    expect(reasonOf(await rs.verify(old))).toBe('accepted');
    expect(reasonOf(await rs.verify(await request({}, dpopOf(old))))).toBe('replayed');
    const r = await request();
    const results = await Promise.all(Array.from({ length: 50 }, () => rs.verify({ ...r })));
    expect(results.filter((x) => x.ok)).toHaveLength(1);
    expect(rs.metrics().replays).toBe(50);
  });

  it('clock (epoch seconds) is the server\'s time for the proof window and the token, as in every role', async () => {
    const later = Math.floor(Date.now() / 1000) + 120;
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, clock: () => later });
    // A proof made now is 120 s old at the server's clock: inside the default window (300 s)…
    expect(reasonOf(await rs.verify(await request()))).toBe('accepted');
    // With dpop.maxAge: 60 the same proof is too old; one dated 10 s before the server's clock passes.
    const strict = testRs(as, { jwksUri: `${as.url}/jwks`, clock: () => later, dpop: { maxAge: 60 } }).rs;
    expect(reasonOf(await strict.verify(await request()))).toBe('iat_out_of_window');
    expect(reasonOf(await strict.verify(await request({ iat: later - 10 })))).toBe('accepted');
  });

  it('§4.3 (11): maxAge bounds a proof age; an old proof is invalid_dpop_proof', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, dpop: { maxAge: 60 } });
    const res = await rs.verify(await request({ iat: Math.floor(Date.now() / 1000) - 120 }));
    expect(reasonOf(res)).toBe('iat_out_of_window');
    expect(res.ok ? 0 : res.status).toBe(401);
  });

  it('a replay cache that cannot be reached → 503 temporarily_unavailable (fail closed), then recovers', async () => {
    let reachable = false;
    const seen = new Set<string>();
    // A stand-in for a remote store (e.g. Redis) that is down until `reachable` flips.
    const remote: ReplayCache = {
      reserve: async (k) => {
        if (!reachable) throw new Error('connect ECONNREFUSED');
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      },
    };
    const t = testRs(as, { jwksUri: `${as.url}/jwks`, replayCache: remote });
    const down = await t.rs.verify(await request());
    expect(down.ok).toBe(false);
    if (!down.ok) {
      expect([down.status, down.error, down.reason]).toEqual([503, 'temporarily_unavailable', 'replay_cache_unavailable']);
      expect(down.headers['Retry-After']).toBe('1');
      expect(down.headers['WWW-Authenticate']).toBeUndefined();
    }
    expect(t.logs.some((l) => l.level === 'warn' && l.obj.reason === 'replay_cache_unavailable')).toBe(true);
    reachable = true;
    expect(reasonOf(await t.rs.verify(await request()))).toBe('accepted');
  });

  it('metrics: accepted, rejected by reason, replays, nonce challenges', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    const r = await request();
    await rs.verify(r);
    await rs.verify({ ...r });
    await rs.verify({ method: 'GET', url: '/items', headers: { host: 'api.example.com' }, protocol: 'https' });
    expect(rs.metrics()).toEqual({ accepted: 1, rejected: { replayed: 1, missing_credentials: 1 }, replays: 1, nonceChallenges: 0 });
  });
});
