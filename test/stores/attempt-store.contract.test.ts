import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Storage } from '../../src/authorization-server/storage.js';
import { createMemoryAttemptStore } from '../../src/stores/memory.js';
import { createPGliteStorage, createPostgresStorage } from '../../src/stores/postgres.js';
import { createPGliteExecutor } from '../../src/stores/sql/pglite-driver.js';
import { migrate } from '../../src/stores/sql/schema.js';
import { createSqlAttemptStore } from '../../src/stores/sql/throttle.js';
import { createRedisAttemptStore, type RedisAttemptStore } from '../../src/stores/redis.js';
import { attemptStoreContract } from '../contracts/attempt-store.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

attemptStoreContract('memory', async () => {
  const store = createMemoryAttemptStore();
  return { open: async () => store, shared: false, cleanup: async () => {} };
});

attemptStoreContract('PGlite (the storage\'s attempts, with its exclusive copy)', async () => {
  const storage = createPGliteStorage();
  await storage.migrate();
  return { open: async () => storage.attempts!, shared: false, cleanup: () => storage.close() };
});

attemptStoreContract('PostgreSQL (the storage\'s attempts, two connections pools)', async () => {
  const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
  const opened: Storage[] = [];
  return {
    async open() {
      const storage = createPostgresStorage({ connectionString: PG_URL, schema });
      await storage.migrate();
      opened.push(storage);
      return storage.attempts!;
    },
    shared: true,
    async cleanup() {
      for (const s of opened) await s.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
});

describe('PGlite: the exclusive copy stays equal to the table', () => {
  it('after 400 interleaved hits, refunds, clears and purges on a few keys, peek from the copy = peek from the table', async () => {
    const executor = createPGliteExecutor();
    try {
      await migrate(executor, 'dpopkit');
      const copy = createSqlAttemptStore(executor, 'dpopkit', { exclusive: true });
      const table = createSqlAttemptStore(executor, 'dpopkit');
      const rule = { freeAttempts: 3, delay: 5, maxDelay: 40, resetAfter: 30 };
      const keys = ['a', 'b', 'c', 'd'];
      let seed = 7;
      const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
      const T = 1_700_000_000;
      for (let round = 0; round < 20; round++) {
        const now = T + round * 7;
        // 20 operations at once, as concurrent requests would issue them.
        await Promise.all(Array.from({ length: 20 }, () => {
          const key = keys[rand(keys.length)]!;
          switch (rand(6)) {
            case 0: return copy.refund(key, now, rule);
            case 1: return copy.clear(key);
            case 2: return copy.purge(now);
            case 3: return copy.peek([key], now);
            default: return copy.hit(key, now, rule);
          }
        }));
        expect(await copy.peek(keys, now)).toEqual(await table.peek(keys, now));
      }
    } finally {
      await executor.close();
    }
  });
});

attemptStoreContract('Redis (Lua scripts), two clients', async () => {
  const keyPrefix = uniquePrefix('attempts');
  const opened: RedisAttemptStore[] = [];
  return {
    async open() {
      const store = createRedisAttemptStore({ url: REDIS_URL, keyPrefix });
      opened.push(store);
      return store;
    },
    shared: true,
    async cleanup() {
      await dropPrefix(keyPrefix);
      for (const s of opened) await s.close();
    },
  };
});
