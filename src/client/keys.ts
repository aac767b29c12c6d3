/**
 * The client's key: supplied, loaded from a `KeyStore`, or generated (and then saved), resolved
 * once and shared by concurrent callers.
 *
 * @module
 */
import type { DPoPAlgorithm } from '../core/crypto/algorithms.js';
import type { DPoPKeyPair, KeyPairLike, PublicJwk } from '../core/crypto/backend.js';
import { exportPublicJwk, generateKeyPair, importKeyPair } from '../core/keys.js';
import { jwkThumbprint } from '../core/thumbprint.js';
import type { KeyStore } from './key-store/types.js';

/** A key pair with its public JWK and RFC 7638 thumbprint computed once. */
export interface ResolvedKey {
  pair: DPoPKeyPair;
  publicJwk: PublicJwk;
  jkt: string;
  /** The JWS alg to sign with: the pair's own (a PS256 key is never used as RS256). */
  alg: DPoPAlgorithm;
}

export interface KeyHolder {
  /** The current key (loads or generates it on first use; concurrent callers share one attempt). */
  current(): Promise<ResolvedKey>;
  /** Replace the key with a freshly generated one (saved to the store, if any). */
  rotate(): Promise<ResolvedKey>;
}

/** A supplied or stored pair: its alg checked against the key (or read from it when absent). */
async function resolve(supplied: KeyPairLike): Promise<ResolvedKey> {
  const pair = await importKeyPair(supplied);
  const publicJwk = await exportPublicJwk(pair);
  return { pair, publicJwk, jkt: await jwkThumbprint(publicJwk), alg: pair.alg };
}

/** Build the key holder for `createDPoPClient`'s `key` / `keyStore` / `alg` options. */
export function createKeyHolder(options: { key?: DPoPKeyPair | KeyPairLike; keyStore?: KeyStore; alg?: DPoPAlgorithm }): KeyHolder {
  const { keyStore, alg = 'ES256' } = options;
  // The generated pair carries alg, and key stores keep it alongside the keys.
  const generate = (): Promise<DPoPKeyPair> => generateKeyPair(alg, { extractable: keyStore?.requiresExtractableKey === true });
  let pending: Promise<ResolvedKey> | undefined;

  async function initial(): Promise<ResolvedKey> {
    if (options.key) return resolve(options.key);
    if (keyStore) {
      const stored = await keyStore.load();
      if (stored) return resolve(stored);
      const pair = await generate();
      await keyStore.save(pair);
      return resolve(pair);
    }
    return resolve(await generate());
  }

  return {
    current() {
      if (!pending) {
        pending = initial();
        // A failed load (store unavailable) is not cached: the next call tries again.
        pending.catch(() => { pending = undefined; });
      }
      return pending;
    },
    async rotate() {
      const pair = await generate();
      if (keyStore) await keyStore.save(pair);
      const next = resolve(pair);
      pending = next;
      return next;
    },
  };
}
