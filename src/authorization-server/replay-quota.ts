/**
 * A quota in front of the authorization server's replay cache (RFC 9449 §11.1): how many live
 * entries one holder may have there: DPoP proof `jti`s, and a confidential client's
 * `private_key_jwt` assertion `jti`s (RFC 7523 §3), which live until the assertion expires (up
 * to an hour). The cache must never evict a live entry, so it can
 * fill up, and once full it refuses every proof, everybody's. With a quota per holder (an
 * authenticated client, or, for a public client, one key), one holder that sends proofs as
 * fast as it can is refused on its own (429 with `Retry-After`) while everybody else goes on.
 *
 * {@link createReplayQuota} keeps the count in this process: in a fleet each server then applies
 * the quota to what passes through it, so a holder can have up to quota × servers entries in a
 * shared cache. A store the fleet shares (`createRedisReplayQuota`) bounds it once.
 *
 * @module
 */
import { OAuthError, replayCacheUnavailable } from './errors.js';

/** What {@link ReplayQuota.take} answers. */
export type QuotaTake = { ok: true } | { ok: false; retryAfter: number };

/**
 * Where the counts are kept: this process's memory ({@link createReplayQuota}, the default), or
 * a store every server of a fleet shares (`createRedisReplayQuota` in `dpopkit/stores/redis`),
 * so that a holder has at most `limit` entries in a shared cache, not `limit` per server.
 */
export interface ReplayQuota {
  /**
   * Count one more entry for `holder`, live until `expiresAt`, if it has fewer than `limit`
   * live ones; otherwise say when its oldest one expires. A store that cannot answer throws:
   * the request is refused with 503 (fail closed, as the replay cache does).
   */
  take(holder: string, limit: number, expiresAt: number, now: number): QuotaTake | Promise<QuotaTake>;
  /** Uncount an entry `take` counted (its jti turned out to be a replay, or the cache failed). */
  release(holder: string, expiresAt: number): void | Promise<void>;
}

interface Holder {
  live: number;
  /** Entries by the second they expire in (proofs expire within a few minutes: few buckets). */
  byExpiry: Map<number, number>;
}

/** Seconds between sweeps that forget holders with nothing live. */
const SWEEP_EVERY = 60;

export function createReplayQuota(): ReplayQuota & { readonly size: number } {
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

/** Who is charged for one entry, how many live ones it may have, and until when this one lives. */
export interface Charge {
  holder: string;
  limit: number;
  /** For the refusal: `this client`, `this DPoP key`. */
  whose: string;
  expiresAt: number;
  now: number;
}

/**
 * Charge one entry to its holder, then `record` it in the replay cache. Past the quota: 429
 * `temporarily_unavailable`, reason `replay_quota_exceeded`, with `Retry-After`, and nothing is
 * recorded. An entry that is not kept (`record` throws, or `kept` says it was a replay) is
 * uncharged, so only live entries count.
 */
export async function chargeEntry<T>(counter: ReplayQuota, charge: Charge, record: () => Promise<T>, kept: (result: T) => boolean = () => true): Promise<T> {
  const { holder, limit, whose, expiresAt, now } = charge;
  let taken: QuotaTake;
  try {
    taken = await counter.take(holder, limit, expiresAt, now);
  } catch {
    throw replayCacheUnavailable();
  }
  if (!taken.ok) {
    throw new OAuthError('temporarily_unavailable', 'replay_quota_exceeded', `${whose} has ${limit} live entries in the replay cache (DPoP proofs, client assertions); try again in ${taken.retryAfter} s`, {
      status: 429,
      headers: { 'Retry-After': String(taken.retryAfter) },
    });
  }
  // An uncount that fails leaves the entry counted until it expires: the holder has one fewer.
  const uncount = async () => {
    try {
      await counter.release(holder, expiresAt);
    } catch {}
  };
  let result: T;
  try {
    result = await record();
  } catch (err) {
    await uncount();
    throw err;
  }
  if (!kept(result)) await uncount();
  return result;
}
