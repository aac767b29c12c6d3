/**
 * Hostile input never crashes the resource server and never yields a 500: arbitrary
 * Authorization, DPoP and Host values (fast-check) always get a 400 or 401 with a reason.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProof } from '../../src/index.js';
import { startAuthServer, type AuthServer } from './support/auth-server.js';
import { newKey } from './support/http.js';
import { testRs } from './support/rs.js';

let as: AuthServer;
beforeAll(async () => {
  as = await startAuthServer();
});
afterAll(async () => {
  await as.close();
});

describe('robustness (RFC 9449 §11.1: resource exhaustion and malformed input)', () => {
  it('arbitrary Authorization / DPoP / Host values → 400 or 401, never a throw or a 500', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    const key = await newKey();
    const token = await as.mint({ cnf: { jkt: key.jkt } });
    const proof = await createProof(key, { htm: 'GET', htu: 'https://api.example.com/x', accessToken: token });
    const pieces = fc.oneof(
      fc.string(),
      fc.constantFrom(`DPoP ${token}`, `Bearer ${token}`, 'DPoP', 'DPoP a.b.c', `DPoP ${token}, DPoP ${token}`, 'Bearer =', `DPoP ${token.replace(/\./g, '..')}`),
      fc.string().map((s) => `DPoP ${s}`),
    );
    const dpop = fc.oneof(fc.string(), fc.constant(proof), fc.constant(`${proof}.x`), fc.string().map((s) => `${s}.${s}.${s}`));
    const host = fc.oneof(fc.constant('api.example.com'), fc.string(), fc.constant('api.example.com/x?'));
    await fc.assert(fc.asyncProperty(pieces, fc.option(dpop), host, async (authorization, proofValue, hostValue) => {
      const headers: Record<string, string> = { host: hostValue, authorization };
      if (proofValue !== null) headers.dpop = proofValue;
      const result = await rs.verify({ method: 'GET', url: '/x', headers, protocol: 'https' });
      if (result.ok) return; // only possible with the real token + real proof, once
      expect([400, 401]).toContain(result.status);
      expect(typeof result.reason).toBe('string');
    }), { numRuns: 300 });
    expect(rs.metrics().rejected.internal_error).toBeUndefined();
  });

  it('an oversized token is refused unread (invalid_token), not parsed', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    const big = `${'a'.repeat(20000)}.${'b'.repeat(20000)}.c`;
    const result = await rs.verify({ method: 'GET', url: '/x', headers: { host: '127.0.0.1', authorization: `DPoP ${big}`, dpop: 'x.y.z' } });
    expect(result.ok ? 'accepted' : `${result.status} ${result.reason}`).toBe('401 token_malformed');
  });
});
