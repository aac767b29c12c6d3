/**
 * The client's memory of server nonces (RFC 9449 §8, §9): the latest `DPoP-Nonce` per origin.
 *
 * A nonce belongs to the server that issued it, so the key is the origin of the URL it came
 * from: an authorization server and each resource server keep their own (§8 and §9 nonces are
 * independent). The cache is bounded twice over, as draft-dpop #92 asks of clients: at most
 * `maxOrigins` origins (least recently used dropped first) and no value longer than core's
 * `MAX_NONCE_LENGTH` or outside the §8.1 `NQCHAR` syntax, so a hostile server cannot grow it.
 *
 * @module
 */
import { invalidArgument } from '../core/argument-error.js';
import { MAX_NONCE_LENGTH, NONCE_SYNTAX } from '../core/nonce.js';

/** Per-origin store of the latest server nonce. */
export interface NonceCache {
  /** The nonce remembered for the origin of `url` (a URL, URL string or origin), if any. */
  get(url: string | URL): string | undefined;
  /**
   * Remember `nonce` for the origin of `url`. Returns `false` (and keeps the previous value)
   * when the nonce is not valid §8.1 syntax or is longer than `MAX_NONCE_LENGTH`.
   */
  set(url: string | URL, nonce: string): boolean;
  /** Forget the nonce of one origin. */
  delete(url: string | URL): void;
  /** Forget every nonce. */
  clear(): void;
  /** How many origins have a nonce. */
  readonly size: number;
}

/** Whether `value` may be used as a nonce: §8.1 `NQCHAR`s, 1 to `MAX_NONCE_LENGTH` long. */
export function isAcceptableNonce(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_NONCE_LENGTH && NONCE_SYNTAX.test(value);
}

/** The origin a URL's nonce is filed under (`https://as.example`), or `undefined` if not a URL. */
export function originOf(url: string | URL): string | undefined {
  try {
    const origin = (url instanceof URL ? url : new URL(url)).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/** Default bound on the number of origins remembered. */
export const DEFAULT_MAX_NONCE_ORIGINS = 64;

/**
 * Create a bounded, per-origin nonce cache (LRU by origin).
 *
 * @param maxOrigins - origins kept at most (default 64); the least recently used goes first.
 */
export function createNonceCache(maxOrigins: number = DEFAULT_MAX_NONCE_ORIGINS): NonceCache {
  if (!Number.isInteger(maxOrigins) || maxOrigins < 1) throw invalidArgument('maxNonceOrigins must be a positive integer');
  // A Map iterates in insertion order: re-inserting on use makes the first key the LRU one.
  const entries = new Map<string, string>();
  return {
    get(url) {
      const origin = originOf(url);
      if (origin === undefined) return undefined;
      const nonce = entries.get(origin);
      if (nonce !== undefined) {
        entries.delete(origin);
        entries.set(origin, nonce);
      }
      return nonce;
    },
    set(url, nonce) {
      const origin = originOf(url);
      if (origin === undefined || !isAcceptableNonce(nonce)) return false;
      entries.delete(origin);
      entries.set(origin, nonce);
      while (entries.size > maxOrigins) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
      }
      return true;
    },
    delete(url) {
      const origin = originOf(url);
      if (origin !== undefined) entries.delete(origin);
    },
    clear() {
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
