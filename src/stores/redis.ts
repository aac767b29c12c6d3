/**
 * The Redis replay cache (`dpopkit/stores/redis`): one replay memory shared by a fleet of
 * resource servers (or authorization servers), so a proof replayed to a different process is
 * still refused (RFC 9449 §11.1).
 *
 * One atomic round trip per proof: `SET <key> 1 PX <ttl> NX`. Redis executes it as one command,
 * so of any number of concurrent copies of a proof, in any number of processes, exactly one gets
 * `OK`; the others get nil (a replay). Never GET-then-SET (the node-oidc-provider TOCTOU race).
 * The proofs reserved in one event-loop tick share one round trip: a small Lua script runs that
 * same `SET NX` per key (see `batch`).
 *
 * The key lives until the proof's own `expiresAt` (the end of its `iat` acceptance window, as
 * the port computes it). The TTL is relative (`PX`), computed from this process's clock, the same
 * clock that checked `iat`, rather than an absolute `EXAT`: with `EXAT`, a Redis host whose
 * clock runs ahead would drop the entry early and reopen the replay window by the skew. The TTL
 * is never below one second, even for an `expiresAt` already past.
 *
 * Fail closed: if Redis cannot be reached or does not answer within `commandTimeoutMs`,
 * `reserve` throws DPoPError `replay_cache_unavailable` (`temporarily_unavailable`, 503); a proof
 * is never accepted unrecorded. The client we create fails fast while disconnected (no offline
 * queue, no retries of in-flight commands) and reconnects by itself with a bounded backoff, so
 * service resumes when Redis returns, with the same cache object.
 *
 * @module
 */
import * as nodeCrypto from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { DPoPError } from '../core/errors.js';
import type { ReplayCache } from '../core/replay.js';
import { createFailFastRedis } from './redis-connection.js';
import { sha256 } from './sha256.js';
import { invalidArgument } from '../core/argument-error.js';

export interface RedisReplayCacheOptions {
  /** An ioredis `Redis` or `Cluster` you configured; `close()` leaves it open. */
  redis?: Redis | Cluster;
  /** `redis://host:6379/0` (used when `redis` is not given; default `redis://127.0.0.1:6379`). */
  url?: string;
  /** Prefix of every key (default `dpopkit:jti:`). Give each application its own. */
  keyPrefix?: string;
  /**
   * Redis Cluster hash tags. `true`: each key is `prefix{digest}`, so it routes by its own digest
   * even if the prefix contains braces. A string: every key is `prefix{tag}digest`, all in one
   * slot (one shard holds the replay memory). Default: no tag.
   */
  hashTag?: boolean | string;
  /** Longest wait for an answer before failing closed (default 500 ms). */
  commandTimeoutMs?: number;
  /** TCP connect timeout of the client created from `url` (default 1000 ms). */
  connectTimeoutMs?: number;
  /** The clock, in epoch seconds like every dpopkit clock (default: the system clock). */
  clock?: () => number;
  /**
   * Send the reserves of one tick as one script call (default: on, except on a Cluster without
   * a fixed `hashTag`, where keys live in different slots). Off: one `SET NX` per proof.
   */
  batch?: boolean;
  /** Called with connection errors of the client we created (they never throw). */
  onError?: (err: Error) => void;
}

/** What {@link RedisReplayCache.checkEviction} found on the server. */
export interface EvictionCheck {
  /** `maxmemory` in bytes (0: no limit), when the server lets us read it. */
  maxmemory: number | undefined;
  /** `maxmemory-policy` (`noeviction`, `volatile-lru`, `allkeys-lru`, …). */
  policy: string | undefined;
  /**
   * `true` when Redis can never evict a live replay entry (no memory limit, or `noeviction`:
   * a full Redis then refuses the SET and the cache fails closed with a 503), `false` when it
   * can, `undefined` when CONFIG is not allowed (many managed services): check it yourself.
   */
  safe: boolean | undefined;
}

export interface RedisReplayCache extends ReplayCache {
  reserve(key: string, expiresAt: number): Promise<boolean>;
  /**
   * Read the server's eviction settings. Every `volatile-*` and `allkeys-*` policy lets a full
   * Redis drop live entries (our keys all have a TTL), which reopens the replay window for the
   * dropped proofs: Spring Security CVE-2026-41707 by memory pressure instead of by LRU. Call it
   * at start and log a warning when `safe` is `false`.
   */
  checkEviction(): Promise<EvictionCheck>;
  /**
   * How full the server is (`INFO memory`, for metrics): `usedBytes` (`used_memory`) and
   * `maxBytes` (`maxmemory`, 0 when unlimited). With `noeviction`, a server past its limit
   * refuses new entries and every proof is answered 503. Rejects when Redis cannot be reached.
   */
  memoryUse(): Promise<{ usedBytes: number; maxBytes: number }>;
  /** The Redis key a replay-cache key is stored under (for operators and tests). */
  redisKey(key: string): string;
  /** Disconnect the client this cache created (a client passed in is left alone). */
  close(): Promise<void>;
}

/** Shortest life of an entry: a proof whose window already closed is still remembered 1 s. */
const MIN_TTL_MS = 1000;
/** Most keys in one script call. */
const MAX_BATCH = 512;
/** A batch this full is sent without waiting for the end of the tick. */
const EAGER_BATCH = 32;
/**
 * `KEYS[i]` is recorded for `ARGV[i]` ms unless present: the same `SET NX` per key as the
 * unbatched path. Answers 1 (new) or 0 (seen: a replay) per key.
 */
const RESERVE_SCRIPT = `local r = {}
for i, k in ipairs(KEYS) do
  if redis.call('SET', k, '1', 'PX', ARGV[i], 'NX') then r[i] = 1 else r[i] = 0 end
end
return r`;
const RESERVE_SHA = nodeCrypto.createHash('sha1').update(RESERVE_SCRIPT).digest('hex');

/**
 * Create a Redis replay cache. Reconnection is automatic; `reserve` rejects with
 * `replay_cache_unavailable` while Redis is away.
 */
export function createRedisReplayCache(options: RedisReplayCacheOptions = {}): RedisReplayCache {
  const prefix = options.keyPrefix ?? 'dpopkit:jti:';
  const timeoutMs = options.commandTimeoutMs ?? 500;
  const clock = options.clock ?? (() => Date.now() / 1000);
  const tag = options.hashTag;
  if (typeof tag === 'string' && (tag === '' || /[{}]/.test(tag))) throw invalidArgument('hashTag must be a non-empty string without braces');

  const owned = options.redis === undefined;
  const redis: Redis | Cluster =
    options.redis ??
    createFailFastRedis(options.url, {
      commandTimeoutMs: timeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? 1000,
      // Unbatched, concurrent SETs share one write per tick. Batched, our own batches are
      // already one command each, and auto-pipelining would hold an eager batch back until the
      // end of the tick instead of sending it while the next proofs are being checked.
      autoPipelining: options.batch === false,
    });
  if (owned) redis.on('error', options.onError ?? (() => {}));

  let everReady = redis.status === 'ready';
  redis.on('ready', () => {
    everReady = true;
  });

  const unavailable = (cause: unknown) =>
    new DPoPError('temporarily_unavailable', 'replay_cache_unavailable', 'the replay cache (Redis) cannot be reached; try again shortly', {
      cause,
      detail: { cause: cause instanceof Error ? cause.message : String(cause) },
    });

  /**
   * Until the first connection is up, wait for it (bounded by the command timeout): a cache
   * used right after creation should not fail for want of a handshake. Afterwards never wait:
   * while Redis is away, fail at once. One shared wait, however many callers.
   */
  let firstWait: Promise<void> | undefined;
  const firstConnection = (): Promise<void> | undefined => {
    if (everReady || redis.status === 'ready') return undefined;
    if (!['wait', 'connecting', 'connect'].includes(redis.status)) return undefined;
    return (firstWait ??= new Promise<void>((resolve) => {
      // Settle on the first of: connected, connection failed, or the command timeout.
      const done = () => {
        clearTimeout(timer);
        redis.off('ready', done);
        redis.off('close', done);
        firstWait = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      redis.once('ready', done);
      redis.once('close', done);
      if (redis.status === 'wait') redis.connect().catch(() => {});
    }));
  };

  const redisKey = (key: string): string => {
    // Fixed-length keys whatever the jti's length or bytes (sha256, base64url: 43 characters).
    const digest = sha256(key);
    if (tag === true) return `${prefix}{${digest}}`;
    if (typeof tag === 'string') return `${prefix}{${tag}}${digest}`;
    return prefix + digest;
  };

  /** Per key: `SET key 1 PX ttl NX` (auto-pipelined by the client we create when unbatched). */
  const setOne = async (k: string, ttl: number): Promise<boolean> => {
    try {
      return (await redis.set(k, '1', 'PX', ttl, 'NX')) === 'OK';
    } catch (err) {
      throw unavailable(err);
    }
  };

  // Batched: the reserves made in one tick travel as one script call that runs the very same
  // `SET … PX … NX` for each key, inside Redis, atomically per key (a script runs alone). Still
  // one round trip per proof, but one command for many proofs, which halves the client-side
  // cost per proof. Multi-key scripts need all keys in one Cluster slot, so on a Cluster this is
  // used only with a fixed hash tag.
  const isCluster = (redis as { isCluster?: boolean }).isCluster === true;
  const batching = options.batch ?? (!isCluster || typeof tag === 'string');
  let pending: { k: string; ttl: number; resolve: (fresh: boolean) => void; reject: (err: unknown) => void }[] = [];
  let scheduled = false;

  const runScript = async (count: number, args: (string | number)[]): Promise<number[]> => {
    try {
      return (await redis.evalsha(RESERVE_SHA, count, ...args)) as number[];
    } catch (err) {
      // First use on this server (or after SCRIPT FLUSH): send the script itself once.
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return (await redis.eval(RESERVE_SCRIPT, count, ...args)) as number[];
      throw err;
    }
  };

  const flush = (): void => {
    while (pending.length > 0) {
      const batch = pending.length <= MAX_BATCH ? pending : pending.slice(0, MAX_BATCH);
      pending = pending.length <= MAX_BATCH ? [] : pending.slice(MAX_BATCH);
      const args: (string | number)[] = [];
      for (const p of batch) args.push(p.k);
      for (const p of batch) args.push(p.ttl);
      runScript(batch.length, args).then(
        (fresh) => {
          for (let i = 0; i < batch.length; i++) batch[i]!.resolve(fresh[i] === 1);
        },
        (err: unknown) => {
          const error = unavailable(err);
          for (const p of batch) p.reject(error);
        },
      );
    }
  };

  const setBatched = (k: string, ttl: number): Promise<boolean> =>
    new Promise<boolean>((resolve, reject) => {
      pending.push({ k, ttl, resolve, reject });
      // A full batch leaves at once, while the rest of this tick's proofs are still being
      // checked: the round trip overlaps with that work instead of idling the process.
      if (pending.length >= EAGER_BATCH) flush();
      else if (!scheduled) {
        scheduled = true;
        // After the current tick's promise jobs: every lane that reached `reserve` joins.
        process.nextTick(() => {
          scheduled = false;
          flush();
        });
      }
    });

  const set = batching ? setBatched : setOne;

  return {
    redisKey,
    async checkEviction() {
      let reply: unknown;
      try {
        await firstConnection();
        reply = await redis.call('CONFIG', 'GET', 'maxmemory*');
      } catch {
        return { maxmemory: undefined, policy: undefined, safe: undefined };
      }
      const pairs = Array.isArray(reply) ? reply.map(String) : [];
      const get = (name: string) => {
        const i = pairs.indexOf(name);
        return i >= 0 && i % 2 === 0 ? pairs[i + 1] : undefined;
      };
      const maxmemory = get('maxmemory') === undefined ? undefined : Number(get('maxmemory'));
      const policy = get('maxmemory-policy');
      return { maxmemory, policy, safe: evictionIsSafe(maxmemory, policy) };
    },
    async memoryUse() {
      await firstConnection();
      const info = String(await redis.call('INFO', 'memory'));
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
      return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
    },
    reserve(key: string, expiresAt: number): Promise<boolean> {
      const k = redisKey(key);
      const ttl = Math.max(Math.ceil((expiresAt - clock()) * 1000), MIN_TTL_MS);
      const waiting = firstConnection();
      return waiting ? waiting.then(() => set(k, ttl)) : set(k, ttl);
    },
    async close() {
      if (!owned) return;
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}

/**
 * Whether a Redis with these settings can never evict a live replay entry: no memory limit, or
 * the `noeviction` policy. `undefined` when the settings are unknown.
 */
export function evictionIsSafe(maxmemory: number | undefined, policy: string | undefined): boolean | undefined {
  if (maxmemory === 0) return true;
  if (policy === undefined) return undefined;
  return policy === 'noeviction';
}

/** The authorization server's failed-attempt counters in Redis (see `redis-throttle.ts`). */
export { createRedisAttemptStore, type RedisAttemptStore, type RedisAttemptStoreOptions } from './redis-throttle.js';

/** The authorization server's replay-cache quota, shared by a fleet (see `redis-replay-quota.ts`). */
export { createRedisReplayQuota, type RedisReplayQuota, type RedisReplayQuotaOptions } from './redis-replay-quota.js';
