/**
 * Turn the configuration's `storage` and `replayCache` into store instances. PGlite and ioredis
 * are loaded only when configured, so a deployment loads just what it uses.
 *
 * The authorization server and the demo API never share a replay cache: a full cache refuses
 * every proof, so with one cache a flood at either server would stop both. Unless the API has a
 * `replayCache` of its own, it gets one like the authorization server's, kept apart: its own
 * memory table, on Redis the key prefix `<prefix>api:`, on PostgreSQL the schema `<schema>_api`.
 *
 * A Redis replay cache is only as good as the server's `maxmemory-policy`: every policy but
 * `noeviction` lets a full Redis drop live entries (they all have a TTL), and a dropped entry
 * lets its proof be replayed. At start, {@link warnOnRedisEviction} reads the policy of each
 * Redis server in use and logs a warning when it is not safe or cannot be read.
 *
 * @module
 */
import { mkdir } from 'node:fs/promises';
import type { ReplayCache } from '../../core/replay.js';
import type { Storage } from '../../authorization-server/storage.js';
import { createMemoryReplayCache } from '../../stores/memory.js';
import type { EvictionCheck } from '../../stores/redis.js';
import type { ApiConfig, AuthorizationServerConfig } from '../config/schema.js';
import type { ReplayQuota } from '../../authorization-server/replay-quota.js';

type ReplayCacheConfig = AuthorizationServerConfig['replayCache'];

/** Redis's default key prefix (see `createRedisReplayCache`). */
const REDIS_PREFIX = 'dpopkit:jti:';
/** The SQL stores' default schema (see `dpopkit/stores/postgres`). */
const SQL_SCHEMA = 'dpopkit';

export async function openStorage(config: AuthorizationServerConfig['storage']): Promise<Storage> {
  if (config.type === 'pglite' && config.dataDir) await mkdir(config.dataDir, { recursive: true });
  const stores = await import('../../stores/postgres.js');
  return config.type === 'postgres'
    ? stores.createPostgresStorage({ connectionString: config.url, schema: config.schema })
    : stores.createPGliteStorage({ dataDir: config.dataDir });
}

export interface OpenReplayCache {
  cache: ReplayCache;
  /** On Redis: the server (`host:port`, never the URL's credentials) and its eviction settings. */
  redis?: { server: string; checkEviction(): Promise<EvictionCheck> };
  /**
   * On Redis or PostgreSQL: the replay-cache quota kept next to the cache (Redis: under
   * `<keyPrefix>quota:`; PostgreSQL: in the cache's schema), so that every server of a fleet
   * counts a holder's entries together.
   */
  quota?: ReplayQuota;
  close(): Promise<void>;
}

/**
 * The demo API's replay cache configuration: its own if given, else the authorization server's
 * moved apart (same backend, separate memory, key prefix or schema).
 */
export function apiReplayCacheConfig(asConfig: ReplayCacheConfig, api: Pick<ApiConfig, 'replayCache'>): ReplayCacheConfig {
  if (api.replayCache) return api.replayCache;
  switch (asConfig.type) {
    case 'memory': return { ...asConfig };
    case 'redis': return { ...asConfig, keyPrefix: `${asConfig.keyPrefix ?? REDIS_PREFIX}api:` };
    case 'postgres': return { ...asConfig, schema: `${asConfig.schema ?? SQL_SCHEMA}_api` };
  }
}

/**
 * `withQuota`: on Redis or PostgreSQL, also open the authorization server's quota store next to
 * the cache, so that every server of a fleet counts a holder's entries together (ignored for a
 * memory cache: one process, nothing to share).
 */
export async function openReplayCache(config: ReplayCacheConfig, withQuota = false): Promise<OpenReplayCache> {
  if (config.type === 'memory') return { cache: createMemoryReplayCache({ maxEntries: config.maxEntries }), close: async () => {} };
  if (config.type === 'postgres') {
    const { createPostgresReplayCache, createPostgresReplayQuota } = await import('../../stores/postgres.js');
    const cache = createPostgresReplayCache({ connectionString: config.url, schema: config.schema });
    await cache.migrate(); // creates the quota's table and function too (one schema, one migration)
    return { cache, ...alongside(cache, withQuota ? createPostgresReplayQuota({ connectionString: config.url, schema: config.schema }) : undefined) };
  }
  const { createRedisReplayCache, createRedisReplayQuota } = await import('../../stores/redis.js');
  const cache = createRedisReplayCache({ url: config.url, keyPrefix: config.keyPrefix });
  const quota = withQuota ? createRedisReplayQuota({ url: config.url, keyPrefix: `${config.keyPrefix ?? 'dpopkit:'}quota:` }) : undefined;
  return {
    cache,
    ...alongside(cache, quota),
    redis: { server: redisServer(config.url), checkEviction: () => cache.checkEviction() },
  };
}

/** The quota store opened next to a cache (if any), and one `close` for both. */
function alongside(cache: { close(): Promise<void> }, quota: (ReplayQuota & { close(): Promise<void> }) | undefined): Pick<OpenReplayCache, 'quota' | 'close'> {
  return {
    ...(quota ? { quota } : {}),
    close: async () => {
      await quota?.close();
      await cache.close();
    },
  };
}

/** The Redis server of a URL as `host:port` (what a log may name: no user, password or db). */
export function redisServer(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || '127.0.0.1'}:${u.port || '6379'}`;
  } catch {
    return 'redis';
  }
}

/** What {@link warnOnRedisEviction} writes to. */
export interface WarningLogger {
  warn(obj: object, msg: string): void;
}

/**
 * Read `maxmemory-policy` once per Redis server that holds one of these replay caches (the
 * authorization server's and the API's usually share one) and log a warning, naming the caches,
 * when that server may evict their entries (a policy other than `noeviction` with a `maxmemory`)
 * or when the settings cannot be read (Redis unreachable, or `CONFIG` not allowed, as on many
 * managed services). Never throws; each check is bounded by the cache's command timeout.
 */
export async function warnOnRedisEviction(caches: Record<string, OpenReplayCache | undefined>, log: WarningLogger): Promise<void> {
  const servers = new Map<string, { check: () => Promise<EvictionCheck>; names: string[] }>();
  for (const [name, open] of Object.entries(caches)) {
    if (!open?.redis) continue;
    const known = servers.get(open.redis.server);
    if (known) known.names.push(name);
    else servers.set(open.redis.server, { check: open.redis.checkEviction, names: [name] });
  }
  await Promise.all(
    [...servers].map(async ([server, { check, names }]) => {
      const { maxmemory, policy, safe } = await check().catch((): EvictionCheck => ({ maxmemory: undefined, policy: undefined, safe: undefined }));
      if (safe === true) return;
      const facts = { redis: server, replayCaches: names, maxmemoryPolicy: policy ?? null, maxmemory: maxmemory ?? null };
      if (safe === false) {
        log.warn(facts, `Redis ${server} has maxmemory-policy ${policy} with maxmemory ${maxmemory}: when full it evicts keys, and an evicted DPoP replay entry lets its proof be replayed. Set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf): a full Redis then refuses new entries and dpopkit answers 503 instead`);
      } else {
        log.warn(facts, `could not read the eviction settings of Redis ${server} (unreachable, or CONFIG not allowed): make sure its maxmemory-policy is noeviction (or maxmemory 0), since any other policy can evict DPoP replay entries and let their proofs be replayed`);
      }
    }),
  );
}
