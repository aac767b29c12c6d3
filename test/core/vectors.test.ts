import { describe, expect, it } from 'vitest';
import { accessTokenHash, canonicalJwk, jwkThumbprint } from '../../src/core/thumbprint.js';
import { verifyProof } from '../../src/core/proof/verify.js';
import { createMemoryReplayCache } from '../../src/stores/memory.js';
import rfc9449 from '../vectors/rfc9449.json' with { type: 'json' };
import rfc7638 from '../vectors/rfc7638.json' with { type: 'json' };

describe('RFC test vectors', () => {
  it('RFC 7638 §3.1: canonical JSON and thumbprint of the example RSA key', async () => {
    expect(canonicalJwk(rfc7638.jwk)).toBe(rfc7638.canonical);
    expect(await jwkThumbprint(rfc7638.jwk)).toBe(rfc7638.thumbprint);
  });

  it('RFC 9449 §6.1: jkt of the example EC key', async () => {
    expect(await jwkThumbprint(rfc9449.exampleJwk.jwk)).toBe(rfc9449.exampleJwk.jkt);
  });

  it('RFC 9449 §7.1: ath of the example access token', async () => {
    expect(await accessTokenHash(rfc9449.accessToken.token)).toBe(rfc9449.accessToken.ath);
  });

  it('RFC 9449 §4.1 Figure 3: the token-request proof verifies at its iat', async () => {
    const v = rfc9449.tokenRequestProof;
    const result = await verifyProof(v.proof, { method: v.method, url: v.url, now: v.iat, replayCache: createMemoryReplayCache({ clock: () => v.iat }) });
    expect(result.jkt).toBe(rfc9449.exampleJwk.jkt);
    expect(result.jti).toBe(v.jti);
    expect(result.iat).toBe(v.iat);
    expect(result.header.alg).toBe('ES256');
  });

  it('RFC 9449 §7.1 Figure 13: the resource-request proof verifies with its access token and binding', async () => {
    const v = rfc9449.resourceRequestProof;
    const result = await verifyProof(v.proof, {
      method: v.method, url: v.url, now: v.iat, accessToken: rfc9449.accessToken.token, jkt: rfc9449.exampleJwk.jkt, replayCache: false,
    });
    expect(result.claims.ath).toBe(rfc9449.accessToken.ath);
  });

  it('RFC 9449 §4.3 (11): the example proof is refused today (its iat is from 2019)', async () => {
    const v = rfc9449.tokenRequestProof;
    await expect(verifyProof(v.proof, { method: v.method, url: v.url, replayCache: false })).rejects.toMatchObject({ reason: 'iat_out_of_window' });
  });
});
