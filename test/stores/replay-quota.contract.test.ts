/**
 * The replay-cache quota (`dpop.replayQuota.store`), the same contract in this process's memory
 * and in Redis (real server): at most `limit` live entries per holder, `retryAfter` until the
 * oldest expires, expired entries no longer count, `release` uncounts one, holders apart. In
 * Redis, several stores (several servers of a fleet) count one holder together, concurrent takes
 * never pass the limit, and a Redis that cannot be reached makes `take` throw (the server then
 * answers 503).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createReplayQuota, type ReplayQuota } from '../../src/authorization-server/replay-quota.js';
import { createRedisReplayQuota, type RedisReplayQuota } from '../../src/stores/redis.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';

const prefix = uniquePrefix('quota');
const opened: RedisReplayQuota[] = [];
afterAll(async () => {
  for (const q of opened) await q.close();
  await dropPrefix(prefix);
});
const redisQuota = (): RedisReplayQuota => {
  const q = createRedisReplayQuota({ url: REDIS_URL, keyPrefix: prefix });
  opened.push(q);
  return q;
};

const FACTORIES: Array<[string, () => ReplayQuota]> = [
  ['memory', () => createReplayQuota()],
  ['Redis', redisQuota],
];

let n = 0;
const holderName = () => `client:c${++n}`;

describe.each(FACTORIES)('replay quota in %s', (_name, open) => {
  it('at most `limit` live entries per holder; past it, retryAfter until the oldest expires; other holders apart', async () => {
    const q = open();
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
    const q = open();
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

describe('replay quota in Redis, shared by a fleet', () => {
  it('two stores (two servers) count one holder together', async () => {
    const [one, two] = [redisQuota(), redisQuota()];
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
    const stores = [redisQuota(), redisQuota(), redisQuota(), redisQuota()];
    const a = holderName();
    const now = 4_000_000;
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => stores[i % 4]!.take(a, 10, now + 60, now)));
    expect(results.filter((r) => r.ok)).toHaveLength(10);
  });

  it('a Redis that cannot be reached: take throws within the command timeout (the server answers 503)', async () => {
    const down = createRedisReplayQuota({ url: 'redis://127.0.0.1:1', keyPrefix: prefix, commandTimeoutMs: 200 });
    opened.push(down);
    const started = Date.now();
    await expect(down.take(holderName(), 10, 60, 0)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
