/**
 * Key pairs for DPoP proofs, each carrying the JWS algorithm it signs with (RFC 9449 §4.2 `alg`).
 *
 * @module
 */
import { backend } from '#crypto';
import { ALGORITHMS, algorithmForJwk, isSupportedAlgorithm, type DPoPAlgorithm } from './crypto/algorithms.js';
import type { DPoPKeyPair, KeyPairLike, PublicJwk } from './crypto/backend.js';
import { invalidArgument } from './argument-error.js';
import { jwkThumbprint } from './thumbprint.js';
import { keyWeakness } from './weak-keys.js';

export interface GenerateKeyPairOptions {
  /**
   * Whether the private key may be exported. Default `false`: in browsers the key can sign but
   * script can never read it (RFC 9449 §11.4). On Node a non-extractable key is a WebCrypto
   * `CryptoKey`; an extractable one is a `KeyObject` (the fastest signer).
   */
  extractable?: boolean;
  /** RSA modulus length in bits (default 2048). */
  modulusLength?: number;
}

/**
 * Generate a key pair for `alg` (default ES256); the pair carries `alg`, so `createProof` signs
 * with it (a PS256 pair never signs RS256).
 *
 * @example
 * ```ts
 * const keyPair = await generateKeyPair('ES256'); // non-extractable private key
 * ```
 */
export async function generateKeyPair(alg: DPoPAlgorithm = 'ES256', options: GenerateKeyPairOptions = {}): Promise<DPoPKeyPair> {
  if (!isSupportedAlgorithm(alg)) throw invalidArgument(`unsupported alg ${String(alg)}`);
  if (options.modulusLength !== undefined && options.modulusLength < 2048) throw invalidArgument('RSA keys need at least 2048 bits');
  const { privateKey, publicKey } = await backend.generateKeyPair(alg, { extractable: options.extractable ?? false, ...(options.modulusLength ? { modulusLength: options.modulusLength } : {}) });
  return { privateKey, publicKey, alg };
}

/**
 * Keys made elsewhere (a WebCrypto `CryptoKeyPair`, Node `KeyObject`s, a key store's record) as
 * a {@link DPoPKeyPair}. `alg` (or the pair's own) is checked against the key; without one it is
 * read from the key: the curve, or for a WebCrypto RSA key its scheme and hash (a plain RSA
 * `KeyObject` signs RS256).
 *
 * @throws TypeError when the alg does not fit the key, or the key is weak (weak-keys.ts)
 */
export async function importKeyPair(keys: KeyPairLike, alg?: DPoPAlgorithm): Promise<DPoPKeyPair> {
  if (!keys || typeof keys !== 'object' || !keys.privateKey || !keys.publicKey) throw invalidArgument('a key pair needs { privateKey, publicKey }');
  const resolved = await resolveKeyAlgorithm(keys, alg);
  return { privateKey: keys.privateKey, publicKey: keys.publicKey, alg: resolved.alg };
}

/**
 * The alg a pair signs with, and its public JWK (the cold path of `createProof` and
 * `importKeyPair`): `alg` when given (it must agree with the pair's own), else the pair's, else
 * read from the key.
 * @throws TypeError when the algs disagree or do not fit the key, or the key is weak
 */
export async function resolveKeyAlgorithm(keys: KeyPairLike, alg: unknown): Promise<{ alg: DPoPAlgorithm; jwk: PublicJwk }> {
  const carried: unknown = keys.alg;
  if (alg !== undefined && carried !== undefined && alg !== carried) {
    throw invalidArgument(`alg ${String(alg)} was asked of a key pair that carries alg ${String(carried)}`);
  }
  const named = alg ?? carried;
  if (named !== undefined && !isSupportedAlgorithm(named)) throw invalidArgument(`unsupported alg ${String(named)}`);
  const jwk = await backend.exportPublicJwk(keys.publicKey);
  const weakness = keyWeakness(jwk);
  if (weakness !== undefined) throw invalidArgument(`refusing a weak key: ${weakness}`);
  const chosen = named ?? algorithmForKey(jwk, keys.privateKey);
  const misfit = algorithmMisfit(chosen, jwk, keys.privateKey);
  if (misfit !== undefined) throw invalidArgument(misfit);
  return { alg: chosen, jwk };
}

interface RsaScheme {
  pss: boolean;
  hash: string | undefined;
}

/**
 * The RSA signature scheme a WebCrypto key is bound to (its `algorithm` names the scheme and the
 * hash, and WebCrypto will sign with nothing else). Node `KeyObject`s of type "rsa" serve both.
 */
function rsaScheme(key: unknown): RsaScheme | undefined {
  if (typeof key !== 'object' || key === null) return undefined;
  const algorithm = (key as { algorithm?: { name?: unknown; hash?: { name?: unknown } } }).algorithm;
  if (typeof algorithm !== 'object' || algorithm === null) return undefined;
  const hash = typeof algorithm.hash?.name === 'string' ? algorithm.hash.name : undefined;
  if (algorithm.name === 'RSA-PSS') return { pss: true, hash };
  if (algorithm.name === 'RSASSA-PKCS1-v1_5') return { pss: false, hash };
  return undefined;
}

/** The alg a key signs with when nobody named one. */
function algorithmForKey(jwk: PublicJwk, privateKey: unknown): DPoPAlgorithm {
  const scheme = jwk.kty === 'RSA' ? rsaScheme(privateKey) : undefined;
  if (scheme?.hash !== undefined) {
    const alg = `${scheme.pss ? 'PS' : 'RS'}${scheme.hash.slice(4)}`;
    if (isSupportedAlgorithm(alg)) return alg;
  }
  return algorithmForJwk(jwk);
}

/** Why `alg` cannot sign with this key, or undefined when it can. */
function algorithmMisfit(alg: DPoPAlgorithm, jwk: PublicJwk, privateKey: unknown): string | undefined {
  const spec = ALGORITHMS[alg];
  if (jwk.kty !== spec.kty || (spec.crv !== undefined && jwk.crv !== spec.crv)) {
    return `alg ${alg} needs a ${spec.crv ?? spec.kty} key, but this key is ${String(jwk.crv ?? jwk.kty)}`;
  }
  const scheme = spec.kty === 'RSA' ? rsaScheme(privateKey) : undefined;
  if (scheme && (scheme.pss !== (spec.pss === true) || (scheme.hash !== undefined && scheme.hash !== spec.hash))) {
    return `alg ${alg} does not fit this ${scheme.pss ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5'}${scheme.hash ? ` ${scheme.hash}` : ''} key`;
  }
  return undefined;
}

/** The public JWK of a key pair (public members only). */
export async function exportPublicJwk(keyPair: KeyPairLike | { publicKey: unknown }): Promise<PublicJwk> {
  return backend.exportPublicJwk(keyPair.publicKey);
}

/** The RFC 7638 thumbprint (`jkt`) of a key pair's public key. */
export async function keyThumbprint(keyPair: KeyPairLike | { publicKey: unknown }): Promise<string> {
  return jwkThumbprint(await exportPublicJwk(keyPair));
}
