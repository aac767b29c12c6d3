/**
 * Attack class: a key pair that does not carry its algorithm (algorithm confusion on the
 * signing side, RFC 9449 §4.2 `alg`, RFC 8725 §3.1). A pair generated for PS256 was signed as
 * RS256 when its key was extractable (the proof claimed a scheme the key was not made for, and
 * a verifier restricted to PS256 refused it) and failed with a raw WebCrypto error when it was
 * not. Every pair now carries `alg`: set by `generateKeyPair` and by every import, used by
 * `createProof`, and checked against any `alg` asked for.
 */
import * as crypto from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALGORITHMS, type DPoPAlgorithm } from '../../src/core/crypto/algorithms.js';
import { generateKeyPair } from '../../src/core/keys.js';
import { createProof } from '../../src/core/proof/create.js';
import { verifyProof } from '../../src/core/proof/verify.js';
import { createDPoPClient } from '../../src/client/dpop-client.js';
import type { KeyStore } from '../../src/client/key-store/types.js';
import { readKeyFile } from '../../src/cli/key-file.js';

const URL_ = 'https://api.example.com/resource';
const subtle = crypto.webcrypto.subtle;

const headerOf = (proof: string): Record<string, unknown> => JSON.parse(Buffer.from(proof.split('.')[0]!, 'base64url').toString());

/** The TypeError (ERR_INVALID_ARG_VALUE) a call throws, or a failure naming what it did instead. */
async function callerMistake(run: () => Promise<unknown>): Promise<TypeError & { code?: string }> {
  const outcome = await run().then((value) => ({ value }), (error: unknown) => ({ error }));
  if (!('error' in outcome)) throw new Error(`expected a TypeError, but it succeeded: ${String(outcome.value).slice(0, 60)}`);
  expect(outcome.error).toBeInstanceOf(TypeError);
  expect((outcome.error as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');
  return outcome.error as TypeError;
}

async function verifiesAs(proof: string, alg: DPoPAlgorithm): Promise<void> {
  expect(headerOf(proof).alg).toBe(alg);
  // A verifier that allows exactly this alg accepts it: the signature is really of that scheme.
  await expect(verifyProof(proof, { method: 'GET', url: URL_, replayCache: false, algs: [alg] })).resolves.toMatchObject({ header: { alg } });
}

describe('key pairs carry their algorithm (RFC 9449 §4.2 alg)', () => {
  it('generateKeyPair("PS256") with a non-extractable key, then createProof without alg: a PS256 proof, not a raw WebCrypto error', async () => {
    const pair = await generateKeyPair('PS256');
    await verifiesAs(await createProof(pair, { htm: 'GET', htu: URL_ }), 'PS256');
  });

  it('generateKeyPair("PS256") with an extractable key: the proof is labelled and signed PS256, not RS256', async () => {
    const pair = await generateKeyPair('PS256', { extractable: true });
    await verifiesAs(await createProof(pair, { htm: 'GET', htu: URL_ }), 'PS256');
  });

  it('every algorithm, extractable or not: the pair carries alg and createProof signs with it', async () => {
    for (const alg of DEFAULT_ALGORITHMS) {
      for (const extractable of [false, true]) {
        const pair = await generateKeyPair(alg, { extractable });
        expect(pair.alg, `${alg} extractable=${extractable}`).toBe(alg);
        await verifiesAs(await createProof(pair, { htm: 'GET', htu: URL_ }), alg);
      }
    }
  });

  it('an explicit alg other than the pair\'s is a TypeError, before and after the pair\'s header is cached', async () => {
    const pair = await generateKeyPair('PS256', { extractable: true });
    const err = await callerMistake(() => createProof(pair, { htm: 'GET', htu: URL_, alg: 'RS256' }));
    expect(err.message).toMatch(/RS256/);
    expect(err.message).toMatch(/PS256/);
    await verifiesAs(await createProof(pair, { htm: 'GET', htu: URL_, alg: 'PS256' }), 'PS256');
    await callerMistake(() => createProof(pair, { htm: 'GET', htu: URL_, alg: 'RS256' }));
    const ec = await generateKeyPair('ES256');
    await callerMistake(() => createProof(ec, { htm: 'GET', htu: URL_, alg: 'ES384' }));
  });

  it('a pair without alg (keys made elsewhere): an alg that does not fit the key is a TypeError naming both', async () => {
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const err = await callerMistake(() => createProof(ec, { htm: 'GET', htu: URL_, alg: 'PS256' }));
    expect(err.message).toMatch(/PS256/);
    expect(err.message).toMatch(/P-256|EC/);
    const pss = await subtle.generateKey({ name: 'RSA-PSS', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, false, ['sign', 'verify']) as CryptoKeyPair;
    expect((await callerMistake(() => createProof(pss, { htm: 'GET', htu: URL_, alg: 'RS256' }))).message).toMatch(/RSA-PSS/);
    expect((await callerMistake(() => createProof(pss, { htm: 'GET', htu: URL_, alg: 'PS384' }))).message).toMatch(/SHA-256/);
  });

  it('a bare WebCrypto CryptoKeyPair (RSA-PSS with SHA-384, RSASSA with SHA-512) signs with the scheme and hash it was made for', async () => {
    const pss = await subtle.generateKey({ name: 'RSA-PSS', hash: 'SHA-384', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, false, ['sign', 'verify']) as CryptoKeyPair;
    await verifiesAs(await createProof(pss, { htm: 'GET', htu: URL_ }), 'PS384');
    const pkcs1 = await subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, false, ['sign', 'verify']) as CryptoKeyPair;
    await verifiesAs(await createProof(pkcs1, { htm: 'GET', htu: URL_ }), 'RS512');
  });
});

describe('every import path sets the pair\'s alg', () => {
  it('importKeyPair: named, read from the key, or refused when it does not fit', async () => {
    const { importKeyPair } = await import('../../src/core/keys.js');
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect((await importKeyPair(rsa, 'PS512')).alg).toBe('PS512');
    expect((await importKeyPair(rsa)).alg).toBe('RS256');
    expect((await importKeyPair(crypto.generateKeyPairSync('ed25519'))).alg).toBe('EdDSA');
    expect((await importKeyPair(crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' }))).alg).toBe('ES512');
    await callerMistake(() => importKeyPair(rsa, 'ES256'));
    await callerMistake(() => importKeyPair({ ...rsa, alg: 'PS256' }, 'RS256'));
  });

  it('the CLI\'s key file: a PS384 key file gives a pair that carries PS384 and signs PS384', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpopkit-alg-'));
    const file = join(dir, 'key.json');
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(file, JSON.stringify({ ...(privateKey.export({ format: 'jwk' }) as object), alg: 'PS384' }), { mode: 0o600 });
    const { keyPair, alg } = await readKeyFile(file);
    expect([keyPair.alg, alg]).toEqual(['PS384', 'PS384']);
    await verifiesAs(await createProof(keyPair, { htm: 'GET', htu: URL_ }), 'PS384');
    // A key file whose alg does not fit its key is refused, not signed with.
    const ec = join(dir, 'ec.json');
    writeFileSync(ec, JSON.stringify({ ...(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as object), alg: 'PS256' }), { mode: 0o600 });
    await expect(readKeyFile(ec)).rejects.toThrow(/PS256/);
  });

  it('createDPoPClient with a supplied bare RSA-PSS pair, or a key store that kept no alg: proofs are PS256', async () => {
    const pss = await subtle.generateKey({ name: 'RSA-PSS', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, false, ['sign', 'verify']) as CryptoKeyPair;
    const supplied = createDPoPClient({ key: pss as never });
    await verifiesAs(await supplied.proof('GET', URL_), 'PS256');
    const store: KeyStore = { load: async () => ({ privateKey: pss.privateKey, publicKey: pss.publicKey }), save: async () => undefined, clear: async () => undefined };
    const stored = createDPoPClient({ keyStore: store });
    await verifiesAs(await stored.proof('GET', URL_), 'PS256');
    // Generated for PS256, saved by an extractable-key store and reloaded: still PS256.
    let saved: unknown;
    const keeper: KeyStore = {
      requiresExtractableKey: true,
      load: async () => saved as never,
      save: async (pair) => { saved = { privateKey: pair.privateKey, publicKey: pair.publicKey, alg: pair.alg }; },
      clear: async () => { saved = undefined; },
    };
    const client = createDPoPClient({ keyStore: keeper, alg: 'PS256' });
    await verifiesAs(await client.proof('GET', URL_), 'PS256');
    expect((saved as { alg: string }).alg).toBe('PS256');
    const again = createDPoPClient({ keyStore: keeper, alg: 'ES256' });
    await verifiesAs(await again.proof('GET', URL_), 'PS256');
  });
});
