/**
 * The `KeyStore` port: where a client keeps its DPoP key pair between runs.
 *
 * @module
 */
import type { DPoPKeyPair, KeyPairLike } from '../../core/crypto/backend.js';

/**
 * Persistent storage for one DPoP key pair. A client loads the pair on first use, generates and
 * saves one when the store is empty, and saves the new pair on `rotateKey()`. A pair carries its
 * `alg` (the JWS algorithm to sign with); stores keep it, so an RSA key generated for PS256 is
 * not later used with RS256.
 */
export interface KeyStore {
  /**
   * The stored key pair, or `undefined` when none is stored yet. A pair without `alg` (stored by
   * an older version) has it read from the key, and checked against the key when present.
   */
  load(): Promise<DPoPKeyPair | KeyPairLike | undefined>;
  /** Store `pair`, replacing any previous one. */
  save(pair: DPoPKeyPair): Promise<void>;
  /** Remove the stored pair. */
  clear(): Promise<void>;
  /**
   * Whether this store needs an extractable private key (a file store writes the private JWK).
   * Stores that keep key objects themselves (IndexedDB) leave it unset, so the client generates
   * a non-extractable key (RFC 9449 §11.4: script can sign but never read the private key).
   */
  readonly requiresExtractableKey?: boolean;
}
