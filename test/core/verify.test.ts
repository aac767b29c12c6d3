/**
 * One test per check of RFC 9449 §4.3: each proof breaks exactly one rule (signed correctly
 * otherwise) and the test asserts the `reason`, so removing the check fails its test.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { backend } from '../../src/core/crypto/node.js';
import { createProof } from '../../src/core/proof/create.js';
import { createProofVerifier, verifyProof, type ProofExpectations } from '../../src/core/proof/verify.js';
import { generateKeyPair, keyThumbprint } from '../../src/core/keys.js';
import { accessTokenHash } from '../../src/core/thumbprint.js';
import { createNonceSource } from '../../src/core/nonce.js';
import { DPoPError } from '../../src/core/errors.js';
import { createMemoryReplayCache } from '../../src/stores/memory.js';
import { MAX_PROOF_LENGTH } from '../../src/core/proof/parse.js';
import { b64u, forge, goodClaims, now, testKey } from '../support/forge.js';

const URL_ = 'https://api.example.com/resource';
const key = testKey();
const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk };
const expect_ = (over: Partial<ProofExpectations> = {}): ProofExpectations => ({ method: 'GET', url: URL_, replayCache: false, ...over });

async function reasonOf(proof: string | string[] | undefined, over: Partial<ProofExpectations> = {}): Promise<string> {
  try {
    await verifyProof(proof, expect_(over));
  } catch (err) {
    if (err instanceof DPoPError) return err.reason;
    throw err;
  }
  return 'accepted';
}

describe('RFC 9449 §4.3 checks, one rule each', () => {
  it('baseline: a correct forged proof is accepted', async () => {
    expect(await reasonOf(forge(key, header, goodClaims()))).toBe('accepted');
  });

  it('RFC 9449 §4.3 (4) a header one or two characters away from a cached one is checked afresh, not served from the header cache', async () => {
    // The header cache is looked up by a fingerprint of a few characters; the hit is confirmed
    // by comparing the whole segment. The key holder signs headers that differ from the cached
    // one only inside "typ": with the comparison gone, most would inherit the cached checks.
    expect(await reasonOf(forge(key, header, goodClaims()))).toBe('accepted');
    const reasons = new Set<string>();
    for (const last of 'abcefghijklmnopqrsuvwxyz') { // neither d nor t: those spell dpop+jwt
      reasons.add(await reasonOf(forge(key, { ...header, typ: `dpop+jw${last}` }, goodClaims())));
      reasons.add(await reasonOf(forge(key, { ...header, typ: `${last}pop+jwt` }, goodClaims())));
    }
    expect([...reasons]).toEqual(['bad_typ']);
  });

  it('RFC 9449 §4.3 (1) no DPoP header', async () => {
    expect(await reasonOf(undefined)).toBe('missing_proof');
    expect(await reasonOf('')).toBe('missing_proof');
  });

  it('RFC 9449 §4.3 (1) more than one DPoP header (array and comma-joined)', async () => {
    const p = forge(key, header, goodClaims());
    expect(await reasonOf([p, p])).toBe('multiple_proofs');
    expect(await reasonOf(`${p}, ${p}`)).toBe('multiple_proofs');
  });

  it('RFC 9449 §4.3 (2) not a compact JWS', async () => {
    expect(await reasonOf('abc.def')).toBe('malformed');
    expect(await reasonOf('a.b.c.d')).toBe('malformed');
    expect(await reasonOf(`${b64u(header)}.${b64u(goodClaims())}.`)).toBe('malformed');
    expect(await reasonOf(`${b64u(header)}.!!!.abc`)).toBe('malformed');
    expect(await reasonOf(`${b64u('not json')}.${b64u(goodClaims())}.AAAA`)).toBe('malformed');
    expect(await reasonOf(`${b64u([1, 2])}.${b64u(goodClaims())}.AAAA`)).toBe('malformed');
  });

  it('§11.1 limits: oversized proof, too many header members, deep JSON', async () => {
    expect(await reasonOf('a'.repeat(MAX_PROOF_LENGTH + 1))).toBe('proof_too_large');
    const wide = { ...header, a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 };
    expect(await reasonOf(forge(key, wide, goodClaims()))).toBe('header_too_many_members');
    expect(await reasonOf(forge(key, header, goodClaims({ x: [[[[[[1]]]]]] })))).toBe('json_too_deep');
  });

  it('RFC 9449 §4.3 (3) required claims present with the right types', async () => {
    for (const claim of ['jti', 'htm', 'htu', 'iat']) {
      const c = goodClaims();
      delete c[claim];
      expect(await reasonOf(forge(key, header, c)), claim).toBe('missing_claim');
    }
    expect(await reasonOf(forge(key, header, goodClaims({ iat: String(now()) })))).toBe('bad_claim');
    expect(await reasonOf(forge(key, header, goodClaims({ jti: 12 })))).toBe('bad_claim');
    expect(await reasonOf(forge(key, header, goodClaims({ jti: 'x'.repeat(300) })))).toBe('bad_claim');
    expect(await reasonOf(forge(key, header, goodClaims({ ath: 5 })))).toBe('bad_claim');
  });

  it('RFC 9449 §4.3 (4) typ must be dpop+jwt', async () => {
    expect(await reasonOf(forge(key, { ...header, typ: 'JWT' }, goodClaims()))).toBe('bad_typ');
    const { typ: _typ, ...noTyp } = header;
    expect(await reasonOf(forge(key, noTyp, goodClaims()))).toBe('bad_typ');
  });

  it('RFC 9449 §4.3 (5) alg none, HMAC, unknown, and outside the allow-list', async () => {
    expect(await reasonOf(`${b64u({ ...header, alg: 'none' })}.${b64u(goodClaims())}.AAAA`)).toBe('alg_not_allowed');
    expect(await reasonOf(forge(key, { ...header, alg: 'HS256' }, goodClaims()))).toBe('alg_not_allowed');
    expect(await reasonOf(forge(key, header, goodClaims()), { algs: ['EdDSA'] })).toBe('alg_not_allowed');
  });

  it('RFC 9449 §4.3 (5) alg must agree with the jwk type and curve', async () => {
    const ed = testKey('ed25519');
    expect(await reasonOf(forge(ed, { typ: 'dpop+jwt', alg: 'ES256', jwk: ed.jwk }, goodClaims(), 'EdDSA'))).toBe('jwk_alg_mismatch');
    const p384 = testKey('ec', 'P-384');
    expect(await reasonOf(forge(p384, { typ: 'dpop+jwt', alg: 'ES256', jwk: p384.jwk }, goodClaims(), 'ES384'))).toBe('jwk_alg_mismatch');
  });

  it('RFC 9449 §4.3 (6) the signature must verify with the jwk', async () => {
    const other = testKey();
    expect(await reasonOf(forge(other, header, goodClaims()))).toBe('bad_signature');
    const p = forge(key, header, goodClaims());
    const flipped = p.slice(0, -3) + (p.slice(-3, -2) === 'A' ? 'B' : 'A') + p.slice(-2);
    expect(await reasonOf(flipped)).toBe('bad_signature');
  });

  it('RFC 9449 §4.3 (6) on the threadpool too: every algorithm verifies, and a wrong signature is bad_signature, not a crash', async () => {
    const verifier = createProofVerifier({ threadpool: true });
    const offThread = vi.spyOn(backend, 'verifyCompactOffThread');
    const inline = vi.spyOn(backend, 'verifyCompact');
    onTestFinished(() => { offThread.mockRestore(); inline.mockRestore(); });
    const reason = (proof: string) => verifier.verify(proof, expect_({})).then(() => 'accepted', (err: DPoPError) => err.reason);
    const keys = [['ES256', testKey()], ['ES384', testKey('ec', 'P-384')], ['ES512', testKey('ec', 'P-521')], ['EdDSA', testKey('ed25519')], ['RS256', testKey('rsa')], ['PS256', testKey('rsa')]] as const;
    for (const [alg, k] of keys) {
      const good = forge(k, { typ: 'dpop+jwt', alg, jwk: k.jwk }, goodClaims(), alg);
      expect([alg, await reason(good)]).toEqual([alg, 'accepted']);
      const other = alg === 'EdDSA' ? testKey('ed25519') : alg.startsWith('ES') ? k : testKey('rsa');
      const forged = alg.startsWith('ES')
        ? good.slice(0, -3) + (good.slice(-3, -2) === 'A' ? 'B' : 'A') + good.slice(-2)
        : forge(other, { typ: 'dpop+jwt', alg, jwk: k.jwk }, goodClaims(), alg);
      expect([alg, await reason(forged)]).toEqual([alg, 'bad_signature']);
    }
    // Signatures of the wrong length for the curve: refused, never thrown from the worker thread.
    const p = forge(key, header, goodClaims());
    expect(await reason(`${p.slice(0, p.lastIndexOf('.'))}.AAAA`)).toBe('bad_signature');
    expect(() => createProofVerifier({ threadpool: 'yes' as unknown as boolean })).toThrow(/threadpool must be a boolean/);
    expect(offThread).toHaveBeenCalledTimes(13);
    expect(inline).not.toHaveBeenCalled();
    // Without the option, signatures are checked inline.
    expect(await createProofVerifier().verify(p, expect_({})).then(() => 'accepted')).toBe('accepted');
    expect(inline).toHaveBeenCalledTimes(1);
    expect(offThread).toHaveBeenCalledTimes(13);
  });

  it('RFC 9449 §4.3 (7) the jwk must not hold a private key', async () => {
    const priv = key.privateKey.export({ format: 'jwk' });
    expect(await reasonOf(forge(key, { ...header, jwk: priv }, goodClaims()))).toBe('jwk_private');
    expect(await reasonOf(forge(key, { ...header, jwk: { ...key.jwk, k: 'AAAA' } }, goodClaims()))).toBe('jwk_private');
  });

  it('RFC 9449 §4.2 the jwk must be a valid public key (bad coordinates, small RSA)', async () => {
    expect(await reasonOf(forge(key, { ...header, jwk: { ...key.jwk, x: 'AAAA' } }, goodClaims()))).toBe('bad_jwk');
    expect(await reasonOf(forge(key, { ...header, jwk: 'key' }, goodClaims()))).toBe('bad_jwk');
    const crypto = await import('node:crypto');
    const small = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    const smallKey = { ...small, jwk: small.publicKey.export({ format: 'jwk' }) as Record<string, string> };
    expect(await reasonOf(forge(smallKey, { typ: 'dpop+jwt', alg: 'RS256', jwk: smallKey.jwk }, goodClaims(), 'RS256'))).toBe('bad_jwk');
  });

  it('RFC 9449 §4.3 (8) htm matches the method, case-sensitively', async () => {
    expect(await reasonOf(forge(key, header, goodClaims({ htm: 'POST' })))).toBe('htm_mismatch');
    expect(await reasonOf(forge(key, header, goodClaims({ htm: 'get' })))).toBe('htm_mismatch');
  });

  it('RFC 9449 §4.3 (9) htu matches the request URI, query and fragment ignored', async () => {
    expect(await reasonOf(forge(key, header, goodClaims({ htu: 'https://api.example.com/other' })))).toBe('htu_mismatch');
    expect(await reasonOf(forge(key, header, goodClaims({ htu: 'https://evil.example.com/resource' })))).toBe('htu_mismatch');
    expect(await reasonOf(forge(key, header, goodClaims({ htu: 'http://api.example.com/resource' })))).toBe('htu_mismatch');
    expect(await reasonOf(forge(key, header, goodClaims({ htu: 'https://api.example.com/resource?x=1#f' })), { url: `${URL_}?y=2` })).toBe('accepted');
  });

  it('RFC 9449 §4.3 (9) htu rejection carries expected and received URIs for logs', async () => {
    const err = await verifyProof(forge(key, header, goodClaims({ htu: 'https://api.example.com/other' })), expect_()).catch((e: DPoPError) => e);
    expect(err).toMatchObject({ reason: 'htu_mismatch', detail: { expected: URL_, received: 'https://api.example.com/other' } });
  });

  it('RFC 9449 §4.3 (10) nonce required: missing → use_dpop_nonce with a fresh nonce', async () => {
    const nonce = createNonceSource({ secret: 'x'.repeat(32) });
    const err = await verifyProof(forge(key, header, goodClaims()), expect_({ nonce })).catch((e: DPoPError) => e);
    expect(err).toMatchObject({ error: 'use_dpop_nonce', reason: 'nonce_missing', status: 401 });
    expect((err as DPoPError).nonce).toBe(await nonce.current());
  });

  it('RFC 9449 §4.3 (10) stale or unknown nonce → use_dpop_nonce (not invalid_dpop_proof)', async () => {
    const nonce = createNonceSource({ secret: 'x'.repeat(32), stepSeconds: 60 });
    const t = now();
    const old = await nonce.current(t - 200);
    const err = await verifyProof(forge(key, header, goodClaims({ nonce: old })), expect_({ nonce, now: t })).catch((e: DPoPError) => e);
    expect(err).toMatchObject({ error: 'use_dpop_nonce', reason: 'nonce_invalid' });
    expect(await reasonOf(forge(key, header, goodClaims({ nonce: 'made-up' })), { nonce })).toBe('nonce_invalid');
    expect(await reasonOf(forge(key, header, goodClaims({ nonce: await nonce.current() })), { nonce })).toBe('accepted');
  });

  it('RFC 9449 §4.3 (11) iat outside the window, past and future bounds apart; message gives both clocks', async () => {
    const t = now();
    expect(await reasonOf(forge(key, header, goodClaims({ iat: t - 301 })), { now: t })).toBe('iat_out_of_window');
    expect(await reasonOf(forge(key, header, goodClaims({ iat: t - 299 })), { now: t })).toBe('accepted');
    expect(await reasonOf(forge(key, header, goodClaims({ iat: t + 6 })), { now: t })).toBe('iat_out_of_window');
    expect(await reasonOf(forge(key, header, goodClaims({ iat: t + 4 })), { now: t })).toBe('accepted');
    expect(await reasonOf(forge(key, header, goodClaims({ iat: t - 61 })), { now: t, maxAge: 60 })).toBe('iat_out_of_window');
    expect(await reasonOf(forge(key, header, goodClaims({ iat: t + 30 })), { now: t, maxFuture: 60 })).toBe('accepted');
    const err = await verifyProof(forge(key, header, goodClaims({ iat: t - 1000 })), expect_({ now: t })).catch((e: Error) => e);
    expect(err.message).toContain(String(t - 1000));
    expect(err.message).toContain(String(t));
    expect(err.message).toContain('300 s back');
  });

  it('RFC 9449 §4.3 (11) a valid server nonce stands in for the iat window', async () => {
    const nonce = createNonceSource({ secret: 'y'.repeat(32) });
    const t = now();
    expect(await reasonOf(forge(key, header, goodClaims({ iat: t - 3600, nonce: await nonce.current(t) })), { nonce, now: t })).toBe('accepted');
  });

  it('RFC 9449 §4.3 (12) ath required with an access token, and must match it', async () => {
    const token = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
    expect(await reasonOf(forge(key, header, goodClaims()), { accessToken: token })).toBe('ath_missing');
    expect(await reasonOf(forge(key, header, goodClaims({ ath: await accessTokenHash('other') })), { accessToken: token })).toBe('ath_mismatch');
    expect(await reasonOf(forge(key, header, goodClaims({ ath: await accessTokenHash(token) })), { accessToken: token })).toBe('accepted');
  });

  it('RFC 9449 §4.3 (12) a verifier that remembers token hashes still compares every ath with the token presented', async () => {
    const verifier = createProofVerifier();
    const reason = (proof: string, over: Partial<ProofExpectations>) => verifier.verify(proof, expect_(over)).then(() => 'accepted', (err: DPoPError) => err.reason);
    const a = 'token-a';
    const b = 'token-b';
    expect(await reason(forge(key, header, goodClaims({ ath: await accessTokenHash(a) })), { accessToken: a })).toBe('accepted');
    // Token a's hash is remembered now: a proof made for a, sent with b, is still refused…
    expect(await reason(forge(key, header, goodClaims({ ath: await accessTokenHash(a) })), { accessToken: b })).toBe('ath_mismatch');
    expect(await reason(forge(key, header, goodClaims()), { accessToken: a })).toBe('ath_missing');
    // …and each token is checked against its own hash.
    expect(await reason(forge(key, header, goodClaims({ ath: await accessTokenHash(b) })), { accessToken: b })).toBe('accepted');
    expect(await reason(forge(key, header, goodClaims({ ath: await accessTokenHash(b) })), { accessToken: a })).toBe('ath_mismatch');
  });

  it('RFC 9449 §4.3 (12) the proof key must equal the bound key (jkt); invalid_token at an RS', async () => {
    const err = await verifyProof(forge(key, header, goodClaims()), expect_({ jkt: 'somebody-else', jktError: 'invalid_token' })).catch((e: DPoPError) => e);
    expect(err).toMatchObject({ error: 'invalid_token', reason: 'jkt_mismatch', status: 401 });
  });

  it('RFC 9449 §11.1 a jti is accepted once; the replay is refused', async () => {
    const replayCache = createMemoryReplayCache();
    const p = forge(key, header, goodClaims());
    expect(await reasonOf(p, { replayCache })).toBe('accepted');
    expect(await reasonOf(p, { replayCache })).toBe('replayed');
  });

  it('RFC 9449 §11.1 the jti is spent only after every other check passed', async () => {
    const replayCache = createMemoryReplayCache();
    const claims = goodClaims();
    const token = 'tok';
    // Wrong token first: refused for ath, the jti must stay unspent…
    expect(await reasonOf(forge(key, header, { ...claims, ath: await accessTokenHash(token) }), { replayCache, accessToken: 'other' })).toBe('ath_mismatch');
    // …so the same proof with the right token is accepted, then replays are refused.
    const good = forge(key, header, { ...claims, ath: await accessTokenHash(token) });
    expect(await reasonOf(good, { replayCache, accessToken: token })).toBe('accepted');
    expect(await reasonOf(good, { replayCache, accessToken: token })).toBe('replayed');
  });

  it('RFC 9449 §11.1 jti spaces are per key: the same jti from two keys does not collide', async () => {
    const replayCache = createMemoryReplayCache();
    const other = testKey();
    const claims = goodClaims();
    expect(await reasonOf(forge(key, header, claims), { replayCache })).toBe('accepted');
    expect(await reasonOf(forge(other, { ...header, jwk: other.jwk }, claims), { replayCache })).toBe('accepted');
  });

  it('RFC 9449 §11.1 a replay-cache failure fails closed with 503', async () => {
    const broken = { reserve: () => Promise.reject(new Error('connection refused')) };
    const err = await verifyProof(forge(key, header, goodClaims()), expect_({ replayCache: broken })).catch((e: DPoPError) => e);
    expect(err).toMatchObject({ error: 'temporarily_unavailable', reason: 'replay_cache_unavailable', status: 503 });
  });

  it('replay entries live until the proof leaves the window, counted from its own iat (Keycloak #43505)', async () => {
    const seen: number[] = [];
    const cache = { reserve: (_k: string, expiresAt: number) => { seen.push(expiresAt); return true; } };
    const t = now();
    await verifyProof(forge(key, header, goodClaims({ iat: t + 4 })), expect_({ replayCache: cache, now: t }));
    await verifyProof(forge(key, header, goodClaims({ iat: t - 299 })), expect_({ replayCache: cache, now: t }));
    // Exactly maxAge (300) past the proof's own iat, plus one second for the integer clock.
    expect(seen).toEqual([t + 4 + 300 + 1, t - 299 + 300 + 1]);
  });

  it('verifyProof refuses to run without an explicit replay decision', async () => {
    await expect(verifyProof('x', { method: 'GET', url: URL_ } as ProofExpectations)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });

  it('extra claims are ignored (RFC 9449 §4.2)', async () => {
    expect(await reasonOf(forge(key, header, goodClaims({ exp: 1, foo: { bar: 1 } })))).toBe('accepted');
  });

  it('createProof output binds to keyThumbprint', async () => {
    const kp = await generateKeyPair('ES256');
    const proof = await createProof(kp, { htm: 'GET', htu: URL_ });
    const result = await verifyProof(proof, expect_({ jkt: await keyThumbprint(kp) }));
    expect(result.jkt).toBe(await keyThumbprint(kp));
  });
});
