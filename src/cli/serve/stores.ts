/**
 * Turn the configuration's `storage` and `replayCache` into store instances. PGlite and ioredis
 * are loaded only when configured, so a deployment loads just what it uses.
 *
 * @module
 */
import { mkdir } from 'node:fs/promises';
import type { ReplayCache } from '../../core/replay.js';
import type { Storage } from '../../authorization-server/storage.js';
import { createMemoryReplayCache } from '../../stores/memory.js';
import type { AuthorizationServerConfig } from '../config/schema.js';

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

export async function openReplayCache(config: AuthorizationServerConfig['replayCache']): Promise<OpenReplayCache> {
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
