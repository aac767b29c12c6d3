/**
 * Key pairs for DPoP proofs.
 *
 * @module
 */
import { backend } from '#crypto';
import { isSupportedAlgorithm, type DPoPAlgorithm } from './crypto/algorithms.js';
import type { DPoPKeyPair, PublicJwk } from './crypto/backend.js';
import { invalidArgument } from './errors.js';
import { jwkThumbprint } from './thumbprint.js';

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
 * Generate a key pair for `alg` (default ES256).
 *
 * @example
 * ```ts
 * const keyPair = await generateKeyPair('ES256'); // non-extractable private key
 * ```
 */
export async function generateKeyPair(alg: DPoPAlgorithm = 'ES256', options: GenerateKeyPairOptions = {}): Promise<DPoPKeyPair> {
  if (!isSupportedAlgorithm(alg)) throw invalidArgument(`unsupported alg ${String(alg)}`);
  if (options.modulusLength !== undefined && options.modulusLength < 2048) throw invalidArgument('RSA keys need at least 2048 bits');
  return backend.generateKeyPair(alg, { extractable: options.extractable ?? false, ...(options.modulusLength ? { modulusLength: options.modulusLength } : {}) });
}

/** The public JWK of a key pair (public members only). */
export async function exportPublicJwk(keyPair: DPoPKeyPair | { publicKey: unknown }): Promise<PublicJwk> {
  return backend.exportPublicJwk(keyPair.publicKey);
}

/** The RFC 7638 thumbprint (`jkt`) of a key pair's public key. */
export async function keyThumbprint(keyPair: DPoPKeyPair | { publicKey: unknown }): Promise<string> {
  return jwkThumbprint(await exportPublicJwk(keyPair));
}
