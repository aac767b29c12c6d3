/**
 * Turn the configuration's `storage` and `replayCache` into store instances. PGlite and ioredis
 * are loaded only when configured, so a deployment loads just what it uses.
 *
 * The authorization server and the demo API never share a replay cache: a full cache refuses
 * every proof, so with one cache a flood at either server would stop both. Unless the API has a
 * `replayCache` of its own, it gets one like the authorization server's, kept apart: its own
 * memory table, on Redis the key prefix `<prefix>api:`, on PostgreSQL the schema `<schema>_api`.
 *
 * @module
 */
import { mkdir } from 'node:fs/promises';
import type { ReplayCache } from '../../core/replay.js';
import type { Storage } from '../../authorization-server/storage.js';
import { createMemoryReplayCache } from '../../stores/memory.js';
import type { ApiConfig, AuthorizationServerConfig } from '../config/schema.js';

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

export async function openReplayCache(config: ReplayCacheConfig): Promise<OpenReplayCache> {
  if (config.type === 'memory') return { cache: createMemoryReplayCache({ maxEntries: config.maxEntries }), close: async () => {} };
  if (config.type === 'postgres') {
    const { createPostgresReplayCache } = await import('../../stores/postgres.js');
    const cache = createPostgresReplayCache({ connectionString: config.url, schema: config.schema });
    await cache.migrate();
    return { cache, close: () => cache.close() };
  }
  const { createRedisReplayCache } = await import('../../stores/redis.js');
  const cache = createRedisReplayCache({ url: config.url, keyPrefix: config.keyPrefix });
  return { cache, close: () => cache.close() };
}
