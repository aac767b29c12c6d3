/**
 * The Redis client the stores create from a URL (the replay cache and the attempt store). Both
 * need the same thing from it: an answer now or an error now, never a command queued while
 * disconnected or sent twice.
 *
 * @module
 */
import { Redis, type Cluster, type RedisOptions } from 'ioredis';

export interface FailFastRedisOptions {
  /** Longest wait for an answer before the command fails. */
  commandTimeoutMs: number;
  /** TCP connect timeout (default 1000 ms). */
  connectTimeoutMs?: number;
  /** ioredis auto-pipelining (default off). */
  autoPipelining?: boolean;
}

export function createFailFastRedis(url: string | undefined, options: FailFastRedisOptions): Redis {
  return new Redis(url ?? 'redis://127.0.0.1:6379', {
    // Fail fast while disconnected, never queue: a queued command would make the request wait.
    enableOfflineQueue: false,
    // A command in flight when the connection drops is rejected, not re-sent: re-sending a
    // SET NX whose OK was lost would report our own proof as a replay, and a re-sent counting
    // script would count one attempt twice.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs ?? 1000,
    // Reconnect forever, backing off to at most one attempt a second.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    enableAutoPipelining: options.autoPipelining ?? false,
  } satisfies RedisOptions);
}

/**
 * A wait for the first connection: resolves at once when `redis` is ready, else when it becomes
 * ready or after `timeoutMs`, whichever is first (the command then fails fast on its own). One
 * wait is shared by every caller meanwhile.
 */
function whenConnected(redis: Redis | Cluster, timeoutMs: number): () => Promise<void> | undefined {
  let ready: Promise<void> | undefined;
  return () =>
    redis.status === 'ready'
      ? undefined
      : (ready ??= new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            redis.off('ready', done);
            ready = undefined;
            resolve();
          };
          const timer = setTimeout(done, timeoutMs);
          redis.once('ready', done);
        }));
}

/** How a store reaches Redis (the attempt store and the replay quota take the same). */
export interface RedisStoreConnection {
  /** An ioredis `Redis` or `Cluster` you configured; `close()` leaves it open. */
  redis?: Redis | Cluster;
  /** `redis://host:6379/0` (used when `redis` is not given; default `redis://127.0.0.1:6379`). */
  url?: string;
  /** Longest wait for an answer (default 500 ms). */
  commandTimeoutMs?: number;
}

/**
 * A store's client: the one passed in, or a fail-fast one made from `url` (its connection
 * errors are swallowed: every command reports its own). `scripted` runs the store's Lua
 * `scripts` (each on one key) as commands of their names; `connected` waits, bounded, for the
 * first connection; `close` disconnects only a client made here.
 */
export function storeClient<S extends object>(
  options: RedisStoreConnection,
  scripts: Record<keyof S, string>,
): { redis: Redis | Cluster; scripted: S; connected: () => Promise<void> | undefined; close(): Promise<void> } {
  const timeoutMs = options.commandTimeoutMs ?? 500;
  const owned = options.redis === undefined;
  const redis = options.redis ?? createFailFastRedis(options.url, { commandTimeoutMs: timeoutMs });
  if (owned) redis.on('error', () => {});
  for (const [name, lua] of Object.entries<string>(scripts)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  return {
    redis,
    scripted: redis as unknown as S,
    connected: whenConnected(redis, timeoutMs),
    async close() {
      if (owned) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

