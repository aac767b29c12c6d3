import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryReplayCache } from '../../src/stores/memory.js';
import { createPostgresReplayCache, type SqlReplayCache } from '../../src/stores/postgres.js';
import { createPGliteExecutor } from '../../src/stores/sql/pglite-driver.js';
import type { SqlExecutor } from '../../src/stores/sql/executor.js';
import { createPgExecutor } from '../../src/stores/sql/pg-driver.js';
import { createSqlReplayCache } from '../../src/stores/sql/replay-cache.js';
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

replayCacheContract('PGlite (the same SQL in process)', async (clock) => {
  const executor = createPGliteExecutor();
  const cache = createSqlReplayCache(executor, 'dpopkit', clock);
  await cache.migrate();
  return { cache, cleanup: () => cache.close() };
});

/**
 * The SQL cache sends the proofs that arrive while it is busy as one statement (group commit).
 * Batches must keep every proof's own answer: copies of one key in a batch, or in batches of two
 * processes at once, are accepted exactly once; a statement that fails fails each proof in it
 * closed, and only those.
 */
describe('PostgreSQL replay cache: proofs sent together', () => {
  const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
  const opened: SqlReplayCache[] = [];
  const open = async () => {
    const cache = createPostgresReplayCache({ connectionString: PG_URL, schema });
    opened.push(cache);
    await cache.migrate();
    return cache;
  };
  afterAll(async () => {
    for (const c of opened) await c.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  });
  const later = () => Date.now() / 1000 + 60;

  it('200 calls at once, 20 copies each of 10 keys: the statements carry several proofs, and each key is accepted exactly once', async () => {
    const executor = createPgExecutor({ connectionString: PG_URL });
    const inserts: number[] = [];
    const counted: SqlExecutor = {
      ...executor,
      query: (text, params) => {
        if (text.startsWith('INSERT')) inserts.push((params![0] as string[]).length);
        return executor.query(text, params);
      },
    };
    const cache = createSqlReplayCache(counted, schema);
    opened.push(cache);
    await cache.migrate();
    const keys = Array.from({ length: 10 }, (_, i) => `jkt-batch:${i}-${Math.random()}`);
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => cache.reserve(keys[i % 10]!, later())));
    for (let k = 0; k < 10; k++) expect(answers.filter((fresh, i) => fresh && i % 10 === k)).toHaveLength(1);
    // Two go alone; the rest wait and leave together, each key once per statement.
    expect(inserts.length).toBeLessThan(20);
    expect(Math.max(...inserts)).toBe(10);
  });

  it('two caches (two servers), 100 copies of one proof each at once: accepted exactly once in all', async () => {
    const [one, two] = [await open(), await open()];
    const key = `jkt-two:${Math.random()}`;
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? one : two).reserve(key, later())));
    expect(answers.filter(Boolean)).toHaveLength(1);
  });

  it('a database that fails: every proof of the failed statements gets replay_cache_unavailable (503), none is accepted', async () => {
    const down = createPostgresReplayCache({ connectionString: 'postgres://root@127.0.0.1:1/test', schema, queryTimeoutMs: 200 });
    opened.push(down);
    const answers = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => down.reserve(`jkt-down:${i}`, later())));
    expect(answers.every((a) => a.status === 'rejected')).toBe(true);
    for (const a of answers) expect((a as PromiseRejectedResult).reason).toMatchObject({ reason: 'replay_cache_unavailable', status: 503 });
  });
});
