/**
 * Interop with peers, both ways: proofs made by the `dpop` package (panva) verify with
 * verifyProof; proofs made by createProof verify with jose (the node-oidc-provider path) and
 * carry exactly the header members and claims `dpop` produces.
 */
import * as crypto from 'node:crypto';
import { generateProof } from 'dpop';
import { calculateJwkThumbprint, EmbeddedJWK, decodeProtectedHeader, decodeJwt, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createProof } from '../../src/core/proof/create.js';
import { verifyProof } from '../../src/core/proof/verify.js';
import { keyThumbprint } from '../../src/core/keys.js';
import { createMemoryReplayCache } from '../../src/stores/memory.js';

const URL_ = 'https://api.example.com/resource';
const subtle = crypto.webcrypto.subtle;

const peerKeys = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  Ed25519: { name: 'Ed25519' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
} as const;

describe('interop: the dpop package → verifyProof', () => {
  for (const [alg, params] of Object.entries(peerKeys)) {
    it(`${alg}: a dpop proof with ath and nonce verifies, binds to the same jkt, and is replay-checked`, async () => {
      const keyPair = await subtle.generateKey(params as never, false, ['sign', 'verify']) as CryptoKeyPair;
      const proof = await generateProof(keyPair as never, URL_, 'GET', 'nonce-1', 'access-token-1');
      const replayCache = createMemoryReplayCache();
      const result = await verifyProof(proof, { method: 'GET', url: URL_, accessToken: 'access-token-1', replayCache });
      expect(result.header.alg).toBe(alg);
      expect(result.claims.nonce).toBe('nonce-1');
      expect(result.jkt).toBe(await keyThumbprint(keyPair));
      await expect(verifyProof(proof, { method: 'GET', url: URL_, accessToken: 'access-token-1', replayCache })).rejects.toMatchObject({ reason: 'replayed' });
      await expect(verifyProof(proof, { method: 'GET', url: URL_, accessToken: 'another', replayCache: false })).rejects.toMatchObject({ reason: 'ath_mismatch' });
    });
  }
});

describe('interop: createProof → jose (EmbeddedJWK, as node-oidc-provider checks) and the dpop package shape', () => {
  for (const alg of ['ES256', 'EdDSA', 'PS256', 'RS256'] as const) {
    it(`${alg}: jose verifies the proof and computes the same thumbprint`, async () => {
      const keyPair = crypto.generateKeyPairSync(alg === 'ES256' ? 'ec' : alg === 'EdDSA' ? 'ed25519' : 'rsa', { namedCurve: 'P-256', modulusLength: 2048 } as never);
      const proof = await createProof(keyPair, { htm: 'POST', htu: URL_, accessToken: 'at', nonce: 'n', alg });
      const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [alg], maxTokenAge: '60s' });
      expect(payload).toMatchObject({ htm: 'POST', htu: URL_, nonce: 'n' });
      expect(await calculateJwkThumbprint(protectedHeader.jwk!)).toBe(await keyThumbprint(keyPair));
    });
  }

  it('header members and claim names and types match what the dpop package produces', async () => {
    const keyPair = await subtle.generateKey(peerKeys.ES256 as never, true, ['sign', 'verify']) as CryptoKeyPair;
    const theirs = await generateProof(keyPair as never, URL_, 'GET', 'n', 'at');
    const ours = await createProof(keyPair, { htm: 'GET', htu: URL_, nonce: 'n', accessToken: 'at' });
    const shape = (p: string) => ({
      header: Object.keys(decodeProtectedHeader(p)).sort(),
      jwk: Object.keys(decodeProtectedHeader(p).jwk!).sort(),
      claims: Object.entries(decodeJwt(p)).map(([k, v]) => `${k}:${typeof v}`).sort(),
    });
    expect(shape(ours)).toEqual(shape(theirs));
    expect(decodeJwt(ours).ath).toBe(decodeJwt(theirs).ath);
  });
});
