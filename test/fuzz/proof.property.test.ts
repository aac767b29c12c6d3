/** Property tests (fast-check) for proofs: round trip, single mutations, and junk input. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createProof } from '../../src/core/proof/create.js';
import { verifyProof } from '../../src/core/proof/verify.js';
import { generateKeyPair } from '../../src/core/keys.js';
import { DPoPError } from '../../src/core/errors.js';
import { createNonceSource } from '../../src/core/nonce.js';
import type { DPoPKeyPair } from '../../src/core/crypto/backend.js';

const methods = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');
const segment = fc.stringMatching(/^[A-Za-z0-9\-._~%]{1,12}$/).filter((s) => !/^\.{1,2}$/.test(s) && !/%(?![0-9A-F]{2})/.test(s));
const urls = fc.tuple(fc.constantFrom('https://api.example.com', 'http://localhost:8080', 'https://xn--bcher-kva.example'), fc.array(segment, { maxLength: 4 }))
  .map(([origin, parts]) => `${origin}/${parts.join('/')}`);
const tokens = fc.option(fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,80}=*$/), { nil: undefined });

let keys: DPoPKeyPair[] = [];
const keyIndex = fc.nat({ max: 2 });
const nonces = createNonceSource({ secret: 'n'.repeat(32) });

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    if (err instanceof DPoPError) return err.reason;
    throw err;
  }
}

describe('property tests', () => {
  it('createProof output always verifies against its own expectations', async () => {
    keys = [await generateKeyPair('ES256', { extractable: true }), await generateKeyPair('EdDSA', { extractable: true }), await generateKeyPair('PS256', { extractable: true })];
    await fc.assert(fc.asyncProperty(keyIndex, methods, urls, tokens, fc.boolean(), async (k, htm, htu, accessToken, useNonce) => {
      const nonce = useNonce ? await nonces.current() : undefined;
      const proof = await createProof(keys[k]!, { htm, htu, ...(accessToken ? { accessToken } : {}), ...(nonce ? { nonce } : {}) });
      const result = await verifyProof(proof, { method: htm, url: htu, replayCache: false, ...(accessToken ? { accessToken } : {}), ...(useNonce ? { nonce: nonces } : {}) });
      expect(result.claims.htu).toBe(htu);
    }), { numRuns: 150 });
  });

  it('any single byte mutation of header, payload or signature is rejected', async () => {
    const keyPair = await generateKeyPair('ES256', { extractable: true });
    const url = 'https://api.example.com/r';
    await fc.assert(fc.asyncProperty(fc.nat({ max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (part, at, xor) => {
      const proof = await createProof(keyPair, { htm: 'GET', htu: url, accessToken: 'tok' });
      const parts = proof.split('.').map((p) => Buffer.from(p, 'base64url'));
      const bytes = parts[part]!;
      bytes[at % bytes.length] ^= xor;
      const mutated = parts.map((p) => p.toString('base64url')).join('.');
      expect(await reason(verifyProof(mutated, { method: 'GET', url, accessToken: 'tok', replayCache: false }))).not.toBe('accepted');
    }), { numRuns: 300 });
  });

  it('any single character change of the proof text is rejected (canonical base64url)', async () => {
    const keyPair = await generateKeyPair('ES256', { extractable: true });
    const url = 'https://api.example.com/r';
    const proof = await createProof(keyPair, { htm: 'GET', htu: url });
    await fc.assert(fc.asyncProperty(fc.nat({ max: proof.length - 1 }), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ '), async (at, char) => {
      fc.pre(proof[at] !== char);
      const mutated = proof.slice(0, at) + char + proof.slice(at + 1);
      expect(await reason(verifyProof(mutated, { method: 'GET', url, replayCache: false }))).not.toBe('accepted');
    }), { numRuns: 400 });
  });

  it('random strings and random JSON never throw anything but DPoPError', async () => {
    const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
    const junk = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.array(fc.string({ maxLength: 40 }), { minLength: 3, maxLength: 3 }).map((a) => a.join('.')),
      fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.string()).map(([h, p, s]) => `${b64(h)}.${b64(p)}.${b64(s)}`),
      fc.tuple(fc.record({ typ: fc.constant('dpop+jwt'), alg: fc.constantFrom('ES256', 'RS256', 'EdDSA', 'none'), jwk: fc.jsonValue() }), fc.jsonValue())
        .map(([h, p]) => `${b64(h)}.${b64(p)}.AAAA`),
    );
    await fc.assert(fc.asyncProperty(junk, async (value) => {
      const outcome = await verifyProof(value, { method: 'GET', url: 'https://api.example.com/r', replayCache: false }).then(() => 'accepted', (err: unknown) => err);
      expect(outcome).toBeInstanceOf(DPoPError);
    }), { numRuns: 1000 });
  });
});
