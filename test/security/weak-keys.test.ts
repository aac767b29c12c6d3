/**
 * Attack: weak public keys. An Ed25519 key that is a point of small order (or a non-canonical
 * encoding of one) verifies the signature R = identity, S = 0 (RFC 8032 §5.1.7 without a
 * small-order check, as OpenSSL does it); an RSA key with e = 1 verifies its own padded digest
 * (RFC 8017 §8.2.2). A token bound to such a key, a client registered with one, or an issuer's
 * set that lists one would accept signatures nobody made. Every place a JWK enters refuses them
 * with the reason `weak_key`.
 */
import * as crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DPoPError } from '../../src/core/errors.js';
import { checkPublicJwk } from '../../src/core/jwk.js';
import { verifyProof, type ProofExpectations } from '../../src/core/proof/verify.js';
import { jwkThumbprint, accessTokenHash } from '../../src/core/thumbprint.js';
import { backend as nodeBackend } from '../../src/core/crypto/node.js';
import { backend as webBackend } from '../../src/core/crypto/web.js';
import { createAuthorizationServer } from '../../src/authorization-server/index.js';
import type { Storage } from '../../src/authorization-server/storage.js';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { findChallenge } from '../../src/index.js';
import type { RequestLike, VerifyResult } from '../../src/resource-server/index.js';
import { alicePasswordHash, basic, decodeJwt, defaultClients, postForm, SECRET, startServer, type Running } from '../authorization-server/support/harness.js';
import { startAuthServer, type AuthServer } from '../resource-server/support/auth-server.js';
import { newKey } from '../resource-server/support/http.js';
import { AUDIENCE, testRs } from '../resource-server/support/rs.js';
import {
  encodeY, FORGED_ED25519_SIGNATURE, forgeEd25519, forgeRs256, IDENTITY_JWK, IDENTITY_X, nowSeconds,
  P25519, rsaExponentOneJwk, smallOrderEncodings,
} from './support/forgeries.js';

const RSA_E1 = rsaExponentOneJwk();
const RSA_GOOD = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as { kty: 'RSA'; n: string; e: string };
const API = 'https://api.example.com/resource';

function proofClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { jti: crypto.randomUUID(), htm: 'GET', htu: API, iat: nowSeconds(), ...overrides };
}

/** A DPoP proof under the identity point (`x` may be any Ed25519 encoding). */
function edProof(claims: Record<string, unknown> = proofClaims(), x = IDENTITY_X): string {
  return forgeEd25519({ typ: 'dpop+jwt', alg: 'EdDSA', jwk: { kty: 'OKP', crv: 'Ed25519', x } }, claims);
}

/** A DPoP proof under the RSA e = 1 key. */
function rsaProof(claims: Record<string, unknown> = proofClaims()): string {
  return forgeRs256(RSA_E1, { typ: 'dpop+jwt', alg: 'RS256', jwk: RSA_E1 }, claims);
}

/** The forgery verifies under raw node:crypto: the premise of the attack (not dpopkit's code). */
function rawVerifies(proof: string, jwk: Record<string, unknown>): boolean {
  const [h, p, s] = proof.split('.');
  const key = crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
  return crypto.verify(jwk.kty === 'RSA' ? 'sha256' : null, Buffer.from(`${h}.${p}`), key, Buffer.from(s!, 'base64url'));
}

/** The DPoPError a promise rejects with (by name: the web-backend test loads a second copy of core). */
async function refusal(promise: Promise<unknown>): Promise<DPoPError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof Error) || err.name !== 'DPoPError') throw new Error(`expected a DPoPError, got ${err === undefined ? 'acceptance' : String(err)}`);
  return err as DPoPError;
}

const expectations = (over: Partial<ProofExpectations> = {}): ProofExpectations => ({ method: 'GET', url: API, replayCache: false, ...over });

describe('weak keys: what is weak (RFC 8032 §5.1.3, §5.1.7; RFC 8017; FIPS 186-5 §A.1.1)', () => {
  const reasonOf = (jwk: Record<string, unknown>, alg: Parameters<typeof checkPublicJwk>[1]): string => {
    try {
      checkPublicJwk(jwk, alg);
      return 'accepted';
    } catch (err) {
      return (err as DPoPError).reason;
    }
  };

  it('all 8 small-order Ed25519 points, with both sign bits and the non-canonical p and p + 1 (libsodium\'s blocklist), are weak_key', () => {
    const encodings = smallOrderEncodings();
    expect(encodings).toHaveLength(14);
    for (const { name, x } of encodings) expect(reasonOf({ kty: 'OKP', crv: 'Ed25519', x }, 'EdDSA'), name).toBe('weak_key');
    for (const { name, x } of encodings) expect(reasonOf({ kty: 'OKP', crv: 'Ed25519', x }, 'Ed25519'), name).toBe('weak_key');
  });

  it('RFC 8032 §5.1.3: every non-canonical encoding (p ≤ y < 2^255, either sign bit) is weak_key', () => {
    for (let k = 0n; P25519 + k < 2n ** 255n; k++) {
      for (const sign of [0, 1] as const) expect(reasonOf({ kty: 'OKP', crv: 'Ed25519', x: encodeY(P25519 + k, sign) }, 'EdDSA'), `p + ${k}`).toBe('weak_key');
    }
  });

  it('a non-canonical base64url "x" (unused trailing bits set) is weak_key: one key would have two thumbprints', () => {
    const { publicKey } = crypto.generateKeyPairSync('ed25519');
    const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(x.at(-1)!);
    const twin = x.slice(0, -1) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[last ^ 1]!;
    expect(Buffer.from(twin, 'base64url')).toEqual(Buffer.from(x, 'base64url')); // same bytes to a lenient decoder
    expect(reasonOf({ kty: 'OKP', crv: 'Ed25519', x: twin }, 'EdDSA')).toBe('weak_key');
  });

  it('property: generated Ed25519, P-256/384/521 and RSA keys are not weak; a random canonical y outside the torsion is not weak', async () => {
    const { keyWeakness } = await import('../../src/core/weak-keys.js');
    for (let i = 0; i < 8; i++) {
      for (const pair of [
        crypto.generateKeyPairSync('ed25519'),
        crypto.generateKeyPairSync('ed448'),
        crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
        crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }),
        crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' }),
      ]) expect(keyWeakness(pair.publicKey.export({ format: 'jwk' }))).toBeUndefined();
    }
    expect(keyWeakness(RSA_GOOD)).toBeUndefined();
    const small = new Set([0n, 1n, P25519 - 1n, 2707385501144840649318225287225658788936804267575313519463743609750303402022n, P25519 - 2707385501144840649318225287225658788936804267575313519463743609750303402022n]);
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: P25519 - 1n }), fc.boolean(), (y, sign) => {
      fc.pre(!small.has(y));
      expect(keyWeakness({ kty: 'OKP', crv: 'Ed25519', x: encodeY(y, sign ? 1 : 0) })).toBeUndefined();
    }), { numRuns: 500 });
    fc.assert(fc.property(fc.bigInt({ min: P25519, max: 2n ** 255n - 1n }), fc.boolean(), (y, sign) => {
      expect(keyWeakness({ kty: 'OKP', crv: 'Ed25519', x: encodeY(y, sign ? 1 : 0) })).toMatch(/non-canonical/);
    }));
  });

  it('Ed448 (RFC 8032 §5.2.3): the identity, the points of order 2 and 4, and non-canonical y are weak', async () => {
    const { keyWeakness } = await import('../../src/core/weak-keys.js');
    const p448 = 2n ** 448n - 2n ** 224n - 1n;
    const enc = (y: bigint, sign = 0): string => {
      const bytes = Buffer.alloc(57);
      let v = y;
      for (let i = 0; i < 57; i++) { bytes[i] = Number(v & 0xffn); v >>= 8n; }
      if (sign) bytes[56] = bytes[56]! | 0x80;
      return bytes.toString('base64url');
    };
    for (const y of [1n, 0n, p448 - 1n, p448, p448 + 1n, 2n ** 448n + 5n]) {
      for (const sign of [0, 1]) expect(keyWeakness({ kty: 'OKP', crv: 'Ed448', x: enc(y, sign) }), `y = ${y}`).toBeDefined();
    }
    expect(keyWeakness({ kty: 'OKP', crv: 'Ed448', x: enc(2n) })).toBeUndefined();
  });

  it('RSA: e = 1, 3, 65535, an even e, e ≥ 2^256, leading zero octets, an even modulus are weak_key; 1024 bits stays bad_jwk', () => {
    const n = Buffer.from(RSA_GOOD.n, 'base64url');
    const e = (v: bigint): string => Buffer.from(v.toString(16).padStart(v.toString(16).length + (v.toString(16).length % 2), '0'), 'hex').toString('base64url');
    expect(reasonOf(RSA_GOOD, 'RS256')).toBe('accepted');
    for (const [label, jwk] of [
      ['e = 1', { ...RSA_GOOD, e: 'AQ' }],
      ['e = 3', { ...RSA_GOOD, e: 'Aw' }],
      ['e = 65535', { ...RSA_GOOD, e: e(65535n) }],
      ['e = 65538 (even)', { ...RSA_GOOD, e: e(65538n) }],
      ['e = 2^256 + 1', { ...RSA_GOOD, e: e(2n ** 256n + 1n) }],
      ['e with a leading zero octet', { ...RSA_GOOD, e: 'AAEAAQ' }],
      ['n with a leading zero octet', { ...RSA_GOOD, n: Buffer.concat([Buffer.alloc(1), n]).toString('base64url') }],
      ['even n', { ...RSA_GOOD, n: Buffer.concat([n.subarray(0, -1), Buffer.from([n.at(-1)! & 0xfe])]).toString('base64url') }],
    ] as const) expect(reasonOf(jwk, 'RS256'), label).toBe('weak_key');
    const small = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
    expect(reasonOf(small, 'RS256')).toBe('bad_jwk');
  });

  it('EC: a point off the curve, or with a coordinate ≥ p, is weak_key (the crypto libraries refuse it too; dpopkit does not rely on them)', async () => {
    const jwk = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as Record<string, string>;
    const y = Buffer.from(jwk.y!, 'base64url');
    y[31] = y[31]! ^ 1;
    const offCurve = { ...jwk, y: y.toString('base64url') };
    expect(reasonOf(offCurve, 'ES256')).toBe('weak_key');
    expect(reasonOf({ ...jwk, x: Buffer.alloc(32, 0xff).toString('base64url') }, 'ES256')).toBe('weak_key');
    // Both backends refuse to import it as well.
    expect(() => crypto.createPublicKey({ key: offCurve, format: 'jwk' })).toThrow();
    await expect(crypto.webcrypto.subtle.importKey('jwk', offCurve, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])).rejects.toThrow();
  });
});

describe('weak keys: verifyProof refuses forged proofs (RFC 9449 §4.3 (6), (7))', () => {
  it('node backend: a proof under the Ed25519 identity, forged with R = identity, S = 0, is invalid_dpop_proof weak_key (401)', async () => {
    const proof = edProof();
    expect(rawVerifies(proof, IDENTITY_JWK)).toBe(true); // the attack works on OpenSSL itself
    const err = await refusal(verifyProof(proof, expectations()));
    expect([err.error, err.reason, err.status]).toEqual(['invalid_dpop_proof', 'weak_key', 401]);
  });

  it('node backend: a proof under an RSA e = 1 key, "signed" with its own PKCS#1 v1.5 encoding, is weak_key', async () => {
    const proof = rsaProof();
    expect(rawVerifies(proof, RSA_E1)).toBe(true);
    const err = await refusal(verifyProof(proof, expectations()));
    expect([err.error, err.reason, err.status]).toEqual(['invalid_dpop_proof', 'weak_key', 401]);
  });

  it('every small-order encoding: a jti that makes the forgery verify on OpenSSL is found, and verifyProof refuses it as weak_key', async () => {
    for (const { name, x } of smallOrderEncodings()) {
      const jwk = { kty: 'OKP', crv: 'Ed25519', x };
      let proof: string | undefined;
      for (let i = 0; i < 400 && proof === undefined; i++) {
        const candidate = edProof(proofClaims({ jti: `grind-${i}` }), x);
        try {
          if (rawVerifies(candidate, jwk)) proof = candidate;
        } catch { break; } // an encoding OpenSSL will not even import
      }
      const err = await refusal(verifyProof(proof ?? edProof(proofClaims(), x), expectations()));
      expect(err.reason, name).toBe('weak_key');
    }
  });

  it('both backends refuse to import a weak key, whoever asks (DPoPError weak_key)', async () => {
    for (const backend of [nodeBackend, webBackend]) {
      for (const [jwk, alg] of [[IDENTITY_JWK, 'EdDSA'], [RSA_E1, 'RS256'], [{ ...RSA_E1, e: 'Aw' }, 'PS256']] as const) {
        const err = await refusal(Promise.resolve().then(() => backend.importPublicJwk(jwk, alg)));
        expect(err.reason, `${backend.name} ${alg}`).toBe('weak_key');
      }
    }
  });

  it('web backend (WebCrypto, browsers and edge runtimes): verifyProof refuses both forgeries as weak_key', async () => {
    vi.resetModules();
    vi.doMock('#crypto', () => import('../../src/core/crypto/web.js'));
    try {
      const web = await import('../../src/core/proof/verify.js');
      const { backend } = await import('#crypto' as string) as { backend: { name: string } };
      expect(backend.name).toBe('web');
      // WebCrypto (here Node's, on OpenSSL) verifies the forgery itself.
      const sig = FORGED_ED25519_SIGNATURE;
      const key = await crypto.webcrypto.subtle.importKey('jwk', IDENTITY_JWK, { name: 'Ed25519' }, false, ['verify']);
      expect(await crypto.webcrypto.subtle.verify({ name: 'Ed25519' }, key, sig, Buffer.from('anything'))).toBe(true);
      for (const proof of [edProof(), rsaProof()]) {
        const err = await refusal(web.verifyProof(proof, expectations()));
        expect([err.error, err.reason, err.status]).toEqual(['invalid_dpop_proof', 'weak_key', 401]);
      }
    } finally {
      vi.doUnmock('#crypto');
      vi.resetModules();
    }
  });
});

describe('weak keys at the authorization server', () => {
  let storage: Storage;
  let server: Running;
  let tokenUrl: string;
  const weakEd = { ...IDENTITY_JWK, kid: 'weak-ed' };
  const weakRsa = { ...RSA_E1, kid: 'weak-rsa' };
  const good = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const goodJwk = { ...(good.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'good', alg: 'ES256' };

  beforeAll(async () => {
    storage = createPGliteStorage();
    await storage.migrate();
    // A weak signing key already in storage (written by hand or by an intruder), active now.
    const now = nowSeconds();
    await storage.saveSigningKey({
      kid: 'weak-signing', alg: 'EdDSA',
      privateJwk: crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as Record<string, unknown>,
      publicJwk: { ...IDENTITY_JWK },
      createdAt: now - 60, activatesAt: now - 60, retiresAt: now + 3600, expiresAt: now + 7200,
    });
    // A private_key_jwt client, configured with a sound key; its stored record is altered below.
    server = await startServer(storage, {
      clients: [...defaultClients(), { clientId: 'weak-jwt', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [goodJwk] }, grantTypes: ['client_credentials'], scope: 'read' }],
    });
    tokenUrl = `${server.url}/token`;
  });
  afterAll(async () => {
    await server?.close();
  });

  const cc = { grant_type: 'client_credentials' };

  it('RFC 9449 §5: a token request with a forged proof under a weak key is 400 invalid_dpop_proof, weak_key, and no token is issued', async () => {
    for (const forge of [edProof, rsaProof]) {
      const res = await postForm(tokenUrl, cc, { auth: basic('confidential', SECRET), dpop: forge(proofClaims({ htm: 'POST', htu: tokenUrl })) });
      expect(res.status).toBe(400);
      const body = await res.json() as Record<string, string>;
      expect(body.error).toBe('invalid_dpop_proof');
      expect(body.error_description).toMatch(/^weak_key/);
      expect(body.access_token).toBeUndefined();
    }
  });

  it('private_key_jwt: a client configured with a weak key is refused at start (TypeError naming the key)', async () => {
    for (const jwk of [weakEd, weakRsa]) {
      await expect(createAuthorizationServer({
        issuer: 'http://127.0.0.1:9', storage,
        clients: [{ clientId: 'weak-jwt', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] }, grantTypes: ['client_credentials'] }],
        users: [{ username: 'alice', passwordHash: await alicePasswordHash() }],
      })).rejects.toThrow(/clients\[0\]\.jwks\.keys\[0\] is a weak key/);
    }
  });

  it('private_key_jwt (RFC 7523): weak keys in a stored client\'s jwks never verify a forged assertion (401 invalid_client); its sound key still does', async () => {
    // The stored record gains weak keys after start (edited storage; dynamic registration).
    await storage.upsertClient({
      clientId: 'weak-jwt', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [weakEd, weakRsa, goodJwk] },
      redirectUris: [], grantTypes: ['client_credentials'], scope: 'read', dpopBoundAccessTokens: false,
    });
    const now = nowSeconds();
    const claims = { iss: 'weak-jwt', sub: 'weak-jwt', aud: tokenUrl, iat: now, exp: now + 60 };
    const assertions = [
      forgeEd25519({ alg: 'EdDSA', kid: 'weak-ed' }, { ...claims, jti: crypto.randomUUID() }),
      forgeRs256(RSA_E1, { alg: 'RS256', kid: 'weak-rsa' }, { ...claims, jti: crypto.randomUUID() }),
    ];
    for (const assertion of assertions) {
      const res = await postForm(tokenUrl, { ...cc, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
      expect(res.status).toBe(401);
      expect((await res.json() as Record<string, string>).error).toBe('invalid_client');
    }
    const genuine = await new SignJWT({ ...claims, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'good' }).sign(good.privateKey);
    const ok = await postForm(tokenUrl, { ...cc, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: genuine });
    expect(ok.status).toBe(200);
  });

  it('signing keys: a weak key found in storage is never published in /jwks nor trusted for introspection', async () => {
    const jwks = await (await fetch(`${server.url}/jwks`)).json() as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys.map((k) => k.kid)).not.toContain('weak-signing');
    const now = nowSeconds();
    const forged = forgeEd25519({ alg: 'EdDSA', typ: 'at+jwt', kid: 'weak-signing' }, {
      iss: server.url, sub: 'alice', aud: server.url, client_id: 'confidential', scope: 'read', iat: now, exp: now + 300, jti: crypto.randomUUID(),
    });
    const res = await postForm(`${server.url}/introspect`, { token: forged }, { auth: basic('confidential', SECRET) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ active: false });
    // The server signs with a key of its own, not the stored weak one.
    const issued = await postForm(tokenUrl, cc, { auth: basic('confidential', SECRET) });
    expect(decodeJwt((await issued.json() as { access_token: string }).access_token).header.kid).not.toBe('weak-signing');
  });
});

describe('weak keys at the resource server', () => {
  let as: AuthServer;
  const URL_ = 'https://api.example.com/items';

  beforeAll(async () => {
    as = await startAuthServer();
    // The issuer's JWK Set also lists weak keys (a compromised or careless issuer, a MITM'd fetch).
    const placeholder = crypto.generateKeyPairSync('ed25519').privateKey;
    as.keys.push({ kid: 'weak-ed', alg: 'EdDSA', privateKey: placeholder, jwk: { ...IDENTITY_JWK, kid: 'weak-ed', alg: 'EdDSA', use: 'sig' } });
    as.keys.push({ kid: 'weak-rsa', alg: 'RS256', privateKey: placeholder, jwk: { ...RSA_E1, kid: 'weak-rsa', alg: 'RS256', use: 'sig' } });
  });
  afterAll(async () => {
    await as.close();
  });

  const request = (token: string, proof: string): RequestLike => ({
    method: 'GET', url: '/items', protocol: 'https', headers: { host: 'api.example.com', authorization: `DPoP ${token}`, dpop: proof },
  });
  function refused(result: VerifyResult) {
    if (result.ok) throw new Error('expected a refusal, but the request was accepted');
    return { ...result, challenge: findChallenge(result.headers['WWW-Authenticate'], 'DPoP')?.params };
  }

  it('RFC 9449 §7.1: a token bound to a weak key, with a forged proof, is 401 invalid_dpop_proof weak_key', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    for (const [jwk, forge] of [[IDENTITY_JWK, edProof], [RSA_E1, rsaProof]] as const) {
      const token = await as.mint({ cnf: { jkt: await jwkThumbprint(jwk) } });
      const proof = forge(proofClaims({ htu: URL_, ath: await accessTokenHash(token) }));
      const r = refused(await rs.verify(request(token, proof)));
      expect([r.status, r.reason, r.challenge?.error]).toEqual([401, 'weak_key', 'invalid_dpop_proof']);
    }
  });

  it('RFC 7517: weak keys in the issuer\'s JWK Set are ignored, so tokens forged under them are 401 invalid_token', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    const holder = await newKey();
    const now = nowSeconds();
    const claims = { iss: as.url, aud: AUDIENCE, sub: 'mallory', client_id: 'app', scope: 'read write', iat: now, exp: now + 300, cnf: { jkt: holder.jkt } };
    const tokens = [
      forgeEd25519({ alg: 'EdDSA', typ: 'at+jwt', kid: 'weak-ed' }, { ...claims, jti: crypto.randomUUID() }),
      forgeRs256(RSA_E1, { alg: 'RS256', typ: 'at+jwt', kid: 'weak-rsa' }, { ...claims, jti: crypto.randomUUID() }),
    ];
    const { createProof } = await import('../../src/core/proof/create.js');
    for (const token of tokens) {
      const proof = await createProof(holder, { htm: 'GET', htu: URL_, accessToken: token });
      const r = refused(await rs.verify(request(token, proof)));
      expect([r.status, r.error, r.challenge?.error]).toEqual([401, 'invalid_token', 'invalid_token']);
      expect(r.reason).toBe('token_unknown_kid');
    }
    // A genuine token from the same set still verifies.
    const good = await as.mint({ cnf: { jkt: holder.jkt } });
    expect((await rs.verify(request(good, await createProof(holder, { htm: 'GET', htu: URL_, accessToken: good })))).ok).toBe(true);
  });
});

describe('weak keys in the CLI', () => {
  const run = promisify(execFile);
  const BIN = join(process.cwd(), 'dist/cli/main.js');
  let dir: string;
  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [BIN, ...args]);
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpopkit-weak-'));
    if (!existsSync(BIN)) await run('npx', ['tsc', '-p', 'tsconfig.build.json']);
  }, 120_000);

  it('dpopkit thumbprint refuses a weak key (exit 1, one line, no thumbprint)', async () => {
    for (const [name, jwk] of [['ed.json', IDENTITY_JWK], ['rsa.json', RSA_E1]] as const) {
      const file = join(dir, name);
      writeFileSync(file, JSON.stringify(jwk));
      const out = await cli('thumbprint', file);
      expect(out.code, name).toBe(1);
      expect(out.stdout).toBe('');
      expect(out.stderr).toMatch(/weak key/);
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('dpopkit verify fails the jwk check of a forged proof with weak_key (exit 1)', async () => {
    for (const proof of [edProof(), rsaProof()]) {
      const out = await cli('verify', proof, '--method', 'GET', '--url', API);
      expect(out.code).toBe(1);
      expect(out.stdout).toMatch(/FAIL\s+jwk/);
      expect(out.stdout).toContain('weak_key');
      expect(out.stdout).toMatch(/INVALID$/m);
    }
  });

  it('dpopkit proof refuses to sign with a weak private key file (RSA e = 1)', async () => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const full = privateKey.export({ format: 'jwk' }) as Record<string, string>;
    // d = dp = dq = 1 is the private half of e = 1.
    const file = join(dir, 'rsa-e1.json');
    writeFileSync(file, JSON.stringify({ ...full, e: 'AQ', d: 'AQ', dp: 'AQ', dq: 'AQ', alg: 'RS256' }), { mode: 0o600 });
    const out = await cli('proof', '--key', file, '--method', 'GET', '--url', API);
    expect(out.code).not.toBe(0);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/weak key/);
  });
});
