import pg from 'pg';
import { createMemoryReplayCache } from '../../src/stores/memory.js';
import { createPostgresReplayCache } from '../../src/stores/postgres.js';
import { createRedisReplayCache } from '../../src/stores/redis.js';
import { replayCacheContract } from '../contracts/replay-cache.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';

/** Redis expires keys on its own clock: the TTL comes from the injected clock, the wait is real. */
const redisWait = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

replayCacheContract('memory', async (clock) => ({ cache: createMemoryReplayCache({ clock }), cleanup: async () => {} }));

replayCacheContract('Redis', async (clock) => {
  const keyPrefix = uniquePrefix();
  const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix, clock });
  return { cache, advance: redisWait, cleanup: () => dropPrefix(keyPrefix).then(() => cache.close()) };
});

replayCacheContract('Redis with per-key Cluster hash tags', async (clock) => {
  const keyPrefix = uniquePrefix();
  const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix, hashTag: true, clock });
  return { cache, advance: redisWait, cleanup: () => dropPrefix(keyPrefix).then(() => cache.close()) };
});

replayCacheContract('Redis, one SET NX per proof (batch: false)', async (clock) => {
  const keyPrefix = uniquePrefix();
  const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix, batch: false, clock });
  return { cache, advance: redisWait, cleanup: () => dropPrefix(keyPrefix).then(() => cache.close()) };
});

replayCacheContract('PostgreSQL (INSERT … ON CONFLICT)', async (clock) => {
  const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
  const cache = createPostgresReplayCache({ connectionString: PG_URL, schema, clock });
  await cache.migrate();
  return {
    cache,
    cleanup: async () => {
      await cache.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
});
