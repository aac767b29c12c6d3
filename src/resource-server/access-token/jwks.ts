/**
 * The issuer's signing keys (RFC 7517 JWK Set) from `jwks_uri`, imported once per `kid` with the
 * core crypto backend. An unknown `kid` triggers one refetch (key rotation works without a
 * restart), at most once per `minRefetchSeconds` so that tokens with made-up `kid`s cannot make
 * the server hammer the authorization server. A cached set older than `maxAgeSeconds` is
 * refreshed in the background while its keys keep serving.
 *
 * @module
 */
import { backend } from '#crypto';
import { ALGORITHMS, isSupportedAlgorithm } from '../../core/crypto/algorithms.js';
import { publicMembers, type PublicJwk } from '../../core/crypto/backend.js';
import { keyWeakness } from '../../core/weak-keys.js';
import { fetchJson } from './http.js';
import type { JwksFetchReason } from '../metrics.js';
import type { FetchLike } from './types.js';

export interface JwksOptions {
  /** Where the set lives: a URL, or a function that finds it (discovery). */
  jwksUri: string | (() => Promise<string>);
  fetch: FetchLike;
  /** Least time between two fetches caused by unknown `kid`s (default 30 s). */
  minRefetchSeconds?: number;
  /** Age after which the set is refreshed in the background (default 600 s). */
  maxAgeSeconds?: number;
  /** Called when a background refresh fails (logged; the old keys keep serving). */
  onError?: (err: unknown) => void;
  /** Called after each fetch of the set (metrics): why it was fetched, and whether it loaded. */
  onFetch?: (reason: JwksFetchReason, ok: boolean) => void;
}

/** Pause before retrying a set that could not be fetched at all. */
const RETRY_MS = 5000;

interface KeyEntry {
  jwk: Record<string, unknown>;
  /** Imported keys per alg (a key may serve several, e.g. RS256 and PS256). */
  imported: Map<string, unknown>;
}

export interface JwksSource {
  /**
   * Keys that may verify a token with this `alg` and `kid` (all compatible keys when the token
   * has no `kid`). Empty when none is known even after a (rate-limited) refetch.
   * @throws PeerError when the set cannot be fetched and none is cached.
   */
  keysFor(alg: string, kid: string | undefined): Promise<unknown[]>;
  /** Increases each time a new set is loaded (caches of verified tokens key on it). */
  readonly generation: number;
}

/** Whether a JWK may verify `alg` (RFC 7517 §4.2–4.4, RFC 7518 §3). */
function fits(jwk: Record<string, unknown>, alg: string): boolean {
  if (!isSupportedAlgorithm(alg)) return false;
  const spec = ALGORITHMS[alg];
  if (jwk.kty !== spec.kty || (spec.crv !== undefined && jwk.crv !== spec.crv)) return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return false;
  return true;
}

export function createJwksSource(options: JwksOptions): JwksSource {
  const minRefetchMs = (options.minRefetchSeconds ?? 30) * 1000;
  const maxAgeMs = (options.maxAgeSeconds ?? 600) * 1000;
  let byKid = new Map<string, KeyEntry>();
  let all: KeyEntry[] = [];
  let fetchedAt = -Infinity;
  let loaded = false;
  let inflight: Promise<void> | undefined;
  let lastError: unknown;
  let generation = 0;

  async function load(): Promise<void> {
    const uri = typeof options.jwksUri === 'string' ? options.jwksUri : await options.jwksUri();
    const set = await fetchJson(options.fetch, uri);
    if (!Array.isArray(set.keys)) throw new Error(`${uri}: not a JWK Set (no "keys" array)`);
    const nextByKid = new Map<string, KeyEntry>();
    const nextAll: KeyEntry[] = [];
    for (const jwk of set.keys as unknown[]) {
      if (typeof jwk !== 'object' || jwk === null) continue;
      const key = jwk as Record<string, unknown>;
      // Symmetric or private keys have no place in a published set: skip them.
      if (key.kty === 'oct' || 'd' in key) continue;
      // Nor weak keys (small-order Ed25519 points, RSA e = 1): they verify tokens nobody signed.
      if (keyWeakness(key) !== undefined) continue;
      const kid = typeof key.kid === 'string' ? key.kid : undefined;
      // Keep the imports of keys that stay (rotation keeps old keys a while).
      const previous = kid !== undefined ? byKid.get(kid) : undefined;
      const entry: KeyEntry = previous && JSON.stringify(previous.jwk) === JSON.stringify(key) ? previous : { jwk: key, imported: new Map() };
      nextAll.push(entry);
      if (kid !== undefined) nextByKid.set(kid, entry);
    }
    byKid = nextByKid;
    all = nextAll;
    loaded = true;
    generation++;
  }

  function refresh(reason: JwksFetchReason): Promise<void> {
    fetchedAt = Date.now();
    inflight ??= load().then(
      () => {
        inflight = undefined;
        lastError = undefined;
        options.onFetch?.(reason, true);
      },
      (err: unknown) => {
        inflight = undefined;
        lastError = err;
        options.onFetch?.(reason, false);
        throw err;
      },
    );
    return inflight;
  }

  async function imported(entry: KeyEntry, alg: string): Promise<unknown | undefined> {
    if (!fits(entry.jwk, alg)) return undefined;
    let key = entry.imported.get(alg);
    if (key === undefined) {
      try {
        key = await backend.importPublicJwk(publicMembers(entry.jwk as PublicJwk), alg);
      } catch {
        return undefined; // a broken key in the set never verifies anything
      }
      entry.imported.set(alg, key);
    }
    return key;
  }

  function candidates(kid: string | undefined): KeyEntry[] {
    if (kid === undefined) return all;
    const entry = byKid.get(kid);
    return entry ? [entry] : [];
  }

  return {
    get generation() {
      return generation;
    },
    async keysFor(alg, kid) {
      if (!loaded) {
        // Never fetched successfully: retry, but not more than once per RETRY_MS after a failure.
        if (lastError !== undefined && !inflight && Date.now() - fetchedAt < RETRY_MS) throw lastError;
        await refresh('initial');
      }
      else if (Date.now() - fetchedAt > maxAgeMs && !inflight) refresh('max_age').catch((err: unknown) => options.onError?.(err));
      let entries = candidates(kid);
      if (entries.length === 0 && Date.now() - fetchedAt >= minRefetchMs) {
        // An unknown kid: the issuer may have rotated its keys.
        await refresh('unknown_kid');
        entries = candidates(kid);
      }
      const keys: unknown[] = [];
      for (const entry of entries) {
        const key = await imported(entry, alg);
        if (key !== undefined) keys.push(key);
      }
      return keys;
    },
  };
}
