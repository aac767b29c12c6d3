/**
 * A quota in front of the authorization server's replay cache (RFC 9449 §11.1): how many live
 * proof `jti`s one holder may have there. The cache must never evict a live entry, so it can
 * fill up, and once full it refuses every proof, everybody's. With a quota per holder (an
 * authenticated client, or, for a public client, one key), one holder that sends proofs as
 * fast as it can is refused on its own (429 with `Retry-After`) while everybody else goes on.
 *
 * The count is kept in this process: in a fleet each server applies the quota to what passes
 * through it, so a holder can have up to quota × servers entries in a shared cache.
 *
 * @module
 */

export interface ReplayQuota {
  /**
   * Count one more entry for `holder`, live until `expiresAt`, if it has fewer than `limit`
   * live ones; otherwise say when its oldest one expires.
   */
  take(holder: string, limit: number, expiresAt: number, now: number): { ok: true } | { ok: false; retryAfter: number };
  /** Uncount an entry `take` counted (its jti turned out to be a replay, or the cache failed). */
  release(holder: string, expiresAt: number): void;
  /** Holders currently tracked (diagnostics, tests). */
  readonly size: number;
}

interface Holder {
  live: number;
  /** Entries by the second they expire in (proofs expire within a few minutes: few buckets). */
  byExpiry: Map<number, number>;
}

/** Seconds between sweeps that forget holders with nothing live. */
const SWEEP_EVERY = 60;

export function createReplayQuota(): ReplayQuota {
  const holders = new Map<string, Holder>();
  let nextSweep = 0;

  function expire(h: Holder, now: number): void {
    for (const [at, n] of h.byExpiry) {
      if (at > now) continue;
      h.byExpiry.delete(at);
      h.live -= n;
    }
  }

  function sweep(now: number): void {
    nextSweep = now + SWEEP_EVERY;
    for (const [name, h] of holders) {
      expire(h, now);
      if (h.live <= 0) holders.delete(name);
    }
  }

  return {
    take(holder, limit, expiresAt, now) {
      if (now >= nextSweep) sweep(now);
      let h = holders.get(holder);
      if (!h) {
        h = { live: 0, byExpiry: new Map() };
        holders.set(holder, h);
      }
      if (h.live >= limit) {
        expire(h, now);
        if (h.live >= limit) {
          let first = Infinity;
          for (const at of h.byExpiry.keys()) if (at < first) first = at;
          return { ok: false, retryAfter: Math.max(1, Math.ceil(first - now)) };
        }
      }
      const at = Math.ceil(expiresAt);
      h.byExpiry.set(at, (h.byExpiry.get(at) ?? 0) + 1);
      h.live++;
      return { ok: true };
    },
    release(holder, expiresAt) {
      const h = holders.get(holder);
      const at = Math.ceil(expiresAt);
      const n = h?.byExpiry.get(at);
      if (!h || n === undefined) return;
      if (n <= 1) h.byExpiry.delete(at);
      else h.byExpiry.set(at, n - 1);
      h.live--;
    },
    get size() {
      return holders.size;
    },
  };
}
