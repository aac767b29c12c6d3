/**
 * The client's key: supplied, loaded from a `KeyStore`, or generated (and then saved), resolved
 * once and shared by concurrent callers.
 *
 * @module
 */
import { isSupportedAlgorithm, type DPoPAlgorithm } from '../core/crypto/algorithms.js';
import type { DPoPKeyPair, PublicJwk } from '../core/crypto/backend.js';
import { exportPublicJwk, generateKeyPair } from '../core/keys.js';
import { jwkThumbprint } from '../core/thumbprint.js';
import type { KeyStore } from './key-store/types.js';

/** A key pair with its public JWK and RFC 7638 thumbprint computed once. */
export interface ResolvedKey {
  pair: DPoPKeyPair;
  publicJwk: PublicJwk;
  jkt: string;
  /** The JWS alg to sign with, when the pair names one (else createProof infers it from the key). */
  alg: DPoPAlgorithm | undefined;
}

/**
 * The algorithm a pair carries in an `alg` member, if any. A generated pair gets one (so a
 * PS256 key is not later used as RS256), and key stores keep it alongside the keys.
 */
export function pairAlg(pair: DPoPKeyPair): DPoPAlgorithm | undefined {
  const alg = (pair as { alg?: unknown }).alg;
  return isSupportedAlgorithm(alg) ? alg : undefined;
}

export interface KeyHolder {
  /** The current key (loads or generates it on first use; concurrent callers share one attempt). */
  current(): Promise<ResolvedKey>;
  /** Replace the key with a freshly generated one (saved to the store, if any). */
  rotate(): Promise<ResolvedKey>;
}

async function resolve(pair: DPoPKeyPair): Promise<ResolvedKey> {
  const publicJwk = await exportPublicJwk(pair);
  return { pair, publicJwk, jkt: await jwkThumbprint(publicJwk), alg: pairAlg(pair) };
}

/** Build the key holder for `createDPoPClient`'s `key` / `keyStore` / `alg` options. */
export function createKeyHolder(options: { key?: DPoPKeyPair; keyStore?: KeyStore; alg?: DPoPAlgorithm }): KeyHolder {
  const { keyStore, alg = 'ES256' } = options;
  const generate = async (): Promise<DPoPKeyPair> => {
    const pair = await generateKeyPair(alg, { extractable: keyStore?.requiresExtractableKey === true });
    return { privateKey: pair.privateKey, publicKey: pair.publicKey, alg } as DPoPKeyPair;
  };
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
