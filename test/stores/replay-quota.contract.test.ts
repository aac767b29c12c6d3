/**
 * The replay-cache quota (`dpop.replayQuota.store`), the same contract in this process's memory,
 * in Redis and in SQL (real servers, and PGlite for the same SQL in process): at most `limit`
 * live entries per holder, `retryAfter` until the oldest expires, expired entries no longer
 * count, `release` uncounts one, holders apart. In Redis and PostgreSQL, several stores (several
 * servers of a fleet) count one holder together, concurrent takes never pass the limit, and a
 * store that cannot be reached makes `take` throw (the server then answers 503).
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createReplayQuota, type ReplayQuota } from '../../src/authorization-server/replay-quota.js';
import { createPostgresReplayQuota, type SqlReplayQuota } from '../../src/stores/postgres.js';
import { createRedisReplayQuota } from '../../src/stores/redis.js';
import { createPGliteExecutor } from '../../src/stores/sql/pglite-driver.js';
import { createSqlReplayQuota } from '../../src/stores/sql/replay-quota.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const prefix = uniquePrefix('quota');
const schema = `dpopkit_q_${Math.random().toString(36).slice(2, 10)}`;
const opened: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  for (const q of opened) await q.close();
  await dropPrefix(prefix);
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await c.end();
});
const kept = <T extends { close(): Promise<void> }>(q: T): T => {
  opened.push(q);
  return q;
};
const redisQuota = async (): Promise<ReplayQuota> => kept(createRedisReplayQuota({ url: REDIS_URL, keyPrefix: prefix }));
const postgresQuota = async (): Promise<ReplayQuota> => {
  const q = kept(createPostgresReplayQuota({ connectionString: PG_URL, schema }));
  await q.migrate();
  return q;
};
const pgliteQuota = async (): Promise<ReplayQuota> => {
  const q: SqlReplayQuota = kept(createSqlReplayQuota(createPGliteExecutor(), 'dpopkit'));
  await q.migrate();
  return q;
};

const FACTORIES: Array<[string, () => Promise<ReplayQuota>]> = [
  ['memory', async () => createReplayQuota()],
  ['Redis', redisQuota],
  ['PostgreSQL', postgresQuota],
  ['PGlite', pgliteQuota],
];

let n = 0;
const holderName = () => `client:c${++n}`;

describe.each(FACTORIES)('replay quota in %s', (_name, open) => {
  it('at most `limit` live entries per holder; past it, retryAfter until the oldest expires; other holders apart', async () => {
    const q = await open();
    const [a, b] = [holderName(), holderName()];
    const now = 1_000_000;
    expect(await q.take(a, 3, now + 30, now)).toEqual({ ok: true });
    expect(await q.take(a, 3, now + 60, now)).toEqual({ ok: true });
    expect(await q.take(a, 3, now + 60, now)).toEqual({ ok: true });
    expect(await q.take(a, 3, now + 90, now + 10)).toEqual({ ok: false, retryAfter: 20 });
    expect(await q.take(b, 3, now + 90, now + 10)).toEqual({ ok: true });
    // the oldest has expired: one more fits, then it is full again until the next expiry
    expect(await q.take(a, 3, now + 90, now + 30)).toEqual({ ok: true });
    expect(await q.take(a, 3, now + 90, now + 31)).toEqual({ ok: false, retryAfter: 29 });
  });

  it('release uncounts one entry of that expiry (a replay, or a cache that failed), and only one', async () => {
    const q = await open();
    const a = holderName();
    const now = 2_000_000;
    for (let i = 0; i < 2; i++) expect(await q.take(a, 2, now + 60, now)).toEqual({ ok: true });
    expect((await q.take(a, 2, now + 60, now)).ok).toBe(false);
    await q.release(a, now + 60);
    expect(await q.take(a, 2, now + 60, now)).toEqual({ ok: true });
    expect((await q.take(a, 2, now + 60, now)).ok).toBe(false);
    await q.release(a, now + 45); // no entry of that expiry: nothing uncounted
    expect((await q.take(a, 2, now + 60, now)).ok).toBe(false);
    await q.release(holderName(), now + 60); // an unknown holder: nothing happens
  });
});

const SHARED: Array<[string, () => Promise<ReplayQuota>]> = [
  ['Redis', redisQuota],
  ['PostgreSQL', postgresQuota],
];

describe.each(SHARED)('replay quota in %s, shared by a fleet', (_name, open) => {
  it('two stores (two servers) count one holder together', async () => {
    const [one, two] = [await open(), await open()];
    const a = holderName();
    const now = 3_000_000;
    expect(await one.take(a, 3, now + 60, now)).toEqual({ ok: true });
    expect(await two.take(a, 3, now + 60, now)).toEqual({ ok: true });
    expect(await one.take(a, 3, now + 60, now)).toEqual({ ok: true });
    expect(await two.take(a, 3, now + 60, now)).toEqual({ ok: false, retryAfter: 60 });
    await one.release(a, now + 60);
    expect(await two.take(a, 3, now + 60, now)).toEqual({ ok: true });
  });

  it('100 concurrent takes from four stores with a limit of 10: exactly 10 succeed', async () => {
    const stores = [await open(), await open(), await open(), await open()];
    const a = holderName();
    const now = 4_000_000;
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => stores[i % 4]!.take(a, 10, now + 60 + (i % 7), now)));
    expect(results.filter((r) => r.ok)).toHaveLength(10);
  });

  it('400 concurrent takes for five holders from four stores (batches mixing holders, in any order): exactly the limit per holder, never a deadlock', async () => {
    const stores = [await open(), await open(), await open(), await open()];
    const holders = Array.from({ length: 5 }, holderName);
    const now = 4_500_000;
    // Store i sees the holders in its own order, so batches lock overlapping sets concurrently.
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) => {
        const h = i % 4 === 1 ? holders[4 - (i % 5)]! : holders[(i * 3) % 5]!;
        return stores[i % 4]!.take(h, 10, now + 60, now).then((r) => ({ h, ok: r.ok }));
      }),
    );
    for (const h of holders) expect(results.filter((r) => r.h === h && r.ok)).toHaveLength(10);
  });
});

describe('a quota store that cannot be reached: take throws promptly (the server answers 503)', () => {
  it('Redis', async () => {
    const down = kept(createRedisReplayQuota({ url: 'redis://127.0.0.1:1', keyPrefix: prefix, commandTimeoutMs: 200 }));
    const started = Date.now();
    await expect(down.take(holderName(), 10, 60, 0)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('PostgreSQL', async () => {
    const down = kept(createPostgresReplayQuota({ connectionString: 'postgres://root@127.0.0.1:1/test', schema, queryTimeoutMs: 200 }));
    const started = Date.now();
    await expect(down.take(holderName(), 10, 60, 0)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('replay quota in SQL: what the table holds', () => {
  it('holders are stored as their SHA-256, never as given; expired rows are swept by a later take', async () => {
    const q = await postgresQuota();
    const a = `client:secret-looking-name-${holderName()}`;
    const now = 5_000_000;
    expect(await q.take(a, 5, now + 10, now)).toEqual({ ok: true });
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const before = await c.query(`SELECT holder FROM "${schema}".replay_quota WHERE expires_at = $1`, [now + 10]);
      expect(before.rows).toHaveLength(1);
      expect(before.rows[0].holder).not.toContain('secret-looking-name');
      expect(before.rows[0].holder).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // A store's first take sweeps; a fresh store, past the expiry, deletes the row.
      const later = await postgresQuota();
      expect(await later.take(holderName(), 5, now + 120, now + 60)).toEqual({ ok: true });
      await expect.poll(async () => (await c.query(`SELECT 1 FROM "${schema}".replay_quota WHERE expires_at = $1`, [now + 10])).rowCount, { timeout: 2000 }).toBe(0);
    } finally {
      await c.end();
    }
  });
});
