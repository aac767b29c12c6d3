/**
 * The resource server's metrics hook (`createResourceServer({ metricsHook })`): each request's
 * outcome and reason, the access-token and proof verification durations apart, introspection
 * calls and JWK Set fetches by reason; and the cost when it is absent: no clock read on the
 * request path, one `performance.now()` pair per timed phase when present.
 */
import * as crypto from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProof } from '../../src/index.js';
import type { RequestLike, ResourceServerMetricsHook } from '../../src/resource-server/index.js';
import { CLIENT_ID, CLIENT_SECRET, type AuthServer, type AuthServerFixture, useAuthServer } from './support/auth-server.js';
import { AUDIENCE, testRs } from './support/rs.js';

const URL_ = 'https://api.example.com/items';
let as: AuthServer;
let key: AuthServerFixture['key'];
useAuthServer((f) => ({ as, key } = f));
afterEach(() => {
  vi.restoreAllMocks();
});

async function request(token: string, proof?: string): Promise<RequestLike> {
  return {
    method: 'GET',
    url: '/items',
    headers: { host: 'api.example.com', authorization: `DPoP ${token}`, dpop: proof ?? (await createProof(key, { htm: 'GET', htu: URL_, accessToken: token })) },
    protocol: 'https',
  };
}

/** A hook that records every call. */
function recorder() {
  const calls: Array<[string, ...unknown[]]> = [];
  const hook: Required<ResourceServerMetricsHook> = {
    request: (...args) => void calls.push(['request', ...args]),
    tokenVerified: (...args) => void calls.push(['tokenVerified', ...args]),
    proofVerified: (...args) => void calls.push(['proofVerified', ...args]),
    introspected: (...args) => void calls.push(['introspected', ...args]),
    jwksFetched: (...args) => void calls.push(['jwksFetched', ...args]),
  };
  const of = (name: string) => calls.filter((c) => c[0] === name).map((c) => c.slice(1));
  return { hook, calls, of };
}

describe('resource-server metrics hook', () => {
  it('an accepted request: the JWK Set fetched (initial), token and proof timed apart, outcome accepted', async () => {
    const r = recorder();
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, metricsHook: r.hook });
    const token = await as.mint({ cnf: { jkt: key.jkt } });
    expect((await rs.verify(await request(token))).ok).toBe(true);
    expect(r.of('jwksFetched')).toEqual([['initial', true]]);
    expect(r.of('request')).toEqual([['accepted', undefined]]);
    const [[tokenSeconds, kind, tokenOk]] = r.of('tokenVerified') as [[number, string, boolean]];
    expect([kind, tokenOk]).toEqual(['jwt', true]);
    const [[proofSeconds, proofOk]] = r.of('proofVerified') as [[number, boolean]];
    expect(proofOk).toBe(true);
    for (const seconds of [tokenSeconds, proofSeconds]) {
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThan(5);
    }
    // The token's time includes the JWK Set fetch; the proof's does not.
    expect(tokenSeconds).toBeGreaterThan(proofSeconds);
    expect(r.of('introspected')).toEqual([]);
  });

  it('a replayed proof: timed as a refused proof, outcome refused with reason replayed; a bad token: no proof timed', async () => {
    const r = recorder();
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, metricsHook: r.hook });
    const token = await as.mint({ cnf: { jkt: key.jkt } });
    const proof = await createProof(key, { htm: 'GET', htu: URL_, accessToken: token });
    expect((await rs.verify(await request(token, proof))).ok).toBe(true);
    r.calls.length = 0;
    expect((await rs.verify(await request(token, proof))).ok).toBe(false);
    expect(r.of('request')).toEqual([['refused', 'replayed']]);
    expect(r.of('proofVerified').map((c) => c[1])).toEqual([false]);
    expect(r.of('tokenVerified').map((c) => c.slice(1))).toEqual([['jwt', true]]);

    r.calls.length = 0;
    const expired = await as.mint({ cnf: { jkt: key.jkt }, exp: Math.floor(Date.now() / 1000) - 600 });
    expect((await rs.verify(await request(expired))).ok).toBe(false);
    expect(r.of('request')).toEqual([['refused', 'token_expired']]);
    expect(r.of('tokenVerified').map((c) => c.slice(1))).toEqual([['jwt', false]]);
    expect(r.of('proofVerified')).toEqual([]);
  });

  it('an unknown kid makes the JWK Set be fetched again: jwksFetched(unknown_kid)', async () => {
    const r = recorder();
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, jwksRefetchSeconds: 0, metricsHook: r.hook });
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } })))).ok).toBe(true);
    as.addKey('rotated');
    try {
      expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { kid: 'rotated' })))).ok).toBe(true);
    } finally {
      as.removeKey('rotated');
    }
    expect(r.of('jwksFetched')).toEqual([['initial', true], ['unknown_kid', true]]);
  });

  it('RFC 7662 introspection: one call timed (a cached answer makes none), the token timed as introspection', async () => {
    const r = recorder();
    const { rs } = testRs(as, { metricsHook: r.hook, introspection: { endpoint: `${as.url}/introspect`, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } });
    const token = crypto.randomBytes(24).toString('base64url');
    as.opaque.set(token, { active: true, iss: as.url, aud: AUDIENCE, sub: 'bob', token_type: 'DPoP', exp: Math.floor(Date.now() / 1000) + 300, cnf: { jkt: key.jkt } });
    expect((await rs.verify(await request(token))).ok).toBe(true);
    expect((await rs.verify(await request(token))).ok).toBe(true);
    expect(r.of('introspected').map((c) => c[1])).toEqual([true]);
    expect((r.of('introspected')[0]![0] as number)).toBeGreaterThan(0);
    expect(r.of('tokenVerified').map((c) => c.slice(1))).toEqual([['introspection', true], ['introspection', true]]);
  });

  it('no hook, or one without durations: no clock read on the request path; with durations, one performance.now() pair per phase', async () => {
    const token = await as.mint({ cnf: { jkt: key.jkt } });
    const counting = async (metricsHook: ResourceServerMetricsHook | undefined) => {
      const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, ...(metricsHook ? { metricsHook } : {}) });
      // Warm: the JWK Set fetched and the token verified once, so the counted request does no I/O but the replay cache.
      expect((await rs.verify(await request(token))).ok).toBe(true);
      const next = await request(token);
      const now = vi.spyOn(performance, 'now');
      try {
        expect((await rs.verify(next)).ok).toBe(true);
        return now.mock.calls.length;
      } finally {
        now.mockRestore();
      }
    };
    expect(await counting(undefined)).toBe(0);
    expect(await counting({ request: () => {}, jwksFetched: () => {} })).toBe(0);
    expect(await counting({ proofVerified: () => {} })).toBe(2);
    expect(await counting(recorder().hook)).toBe(4);
  });
});
