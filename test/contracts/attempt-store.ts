/**
 * The `AttemptStore` contract (src/authorization-server/throttle.ts): one suite every store of
 * failed-attempt counters must pass. Run from test/stores/attempt-store.contract.test.ts on
 * memory, PGlite and PostgreSQL (the SQL storage's `attempts`) and Redis.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delayFor, type AttemptStore, type ThrottleRule } from '../../src/authorization-server/throttle.js';

export interface AttemptStoreHarness {
  /** A store on the harness's backing store (the same one on every call). */
  open(): Promise<AttemptStore>;
  /** Whether two opened stores see each other's counts (a fleet on one database). */
  shared: boolean;
  cleanup(): Promise<void>;
}

const T = 1_700_000_000;
const key = (p = 'k') => `${p}:${randomUUID()}`;
/** 3 free failures, then 10 s doubling to 80 s; forgotten 100 s after the last block ends. */
const RULE: ThrottleRule = { freeAttempts: 3, delay: 10, maxDelay: 80, resetAfter: 100 };

export function attemptStoreContract(name: string, make: () => Promise<AttemptStoreHarness>): void {
  describe(`AttemptStore contract: ${name}`, () => {
    let h: AttemptStoreHarness;
    let store: AttemptStore;
    beforeAll(async () => {
      h = await make();
      store = await h.open();
    });
    afterAll(async () => {
      await h?.cleanup();
    });

    it('counts from 1; no block before freeAttempts; the freeAttempts-th failure blocks for `delay`', async () => {
      const k = key();
      // No delay yet: blockedUntil is 0 (not "now", which a server with a slower clock would read as a block).
      expect(await store.hit(k, T, RULE)).toEqual({ counted: true, count: 1, blockedUntil: 0 });
      expect(await store.hit(k, T, RULE)).toEqual({ counted: true, count: 2, blockedUntil: 0 });
      expect(await store.hit(k, T + 1, RULE)).toEqual({ counted: true, count: 3, blockedUntil: T + 11 });
      expect((await store.peek([k], T + 1)).get(k)).toEqual({ count: 3, blockedUntil: T + 11 });
    });

    it('while blocked a hit changes nothing (counted: false, the block as it is); at blockedUntil it counts again', async () => {
      const k = key();
      for (let i = 0; i < 3; i++) await store.hit(k, T, RULE);
      expect(await store.hit(k, T + 5, RULE)).toEqual({ counted: false, count: 3, blockedUntil: T + 10 });
      expect(await store.hit(k, T + 9, RULE)).toEqual({ counted: false, count: 3, blockedUntil: T + 10 });
      // Blocked means now < blockedUntil: at T + 10 the attempt is allowed and doubles the delay.
      expect(await store.hit(k, T + 10, RULE)).toEqual({ counted: true, count: 4, blockedUntil: T + 30 });
    });

    it('the delay doubles with each failure and stops at maxDelay (the formula of delayFor)', async () => {
      const k = key();
      let now = T;
      const delays: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await store.hit(k, now, RULE);
        expect(r.counted).toBe(true);
        delays.push(r.blockedUntil === 0 ? 0 : r.blockedUntil - now);
        now = Math.max(now, r.blockedUntil);
      }
      expect(delays).toEqual([0, 0, 10, 20, 40, 80, 80, 80]);
      expect(delays).toEqual(delays.map((_, i) => delayFor(i + 1, RULE)));
    });

    it('a key is forgotten resetAfter seconds after its block ends: absent from peek, counted from 1 again', async () => {
      const k = key();
      for (let i = 0; i < 3; i++) await store.hit(k, T, RULE); // blocked until T + 10, forgotten at T + 110
      expect((await store.peek([k], T + 109)).has(k)).toBe(true);
      expect((await store.peek([k], T + 110)).has(k)).toBe(false);
      expect(await store.hit(k, T + 110, RULE)).toEqual({ counted: true, count: 1, blockedUntil: 0 });
    });

    it('peek returns only the live keys asked for, and nothing for an empty list', async () => {
      const [a, b, c] = [key(), key(), key()];
      await store.hit(a, T, RULE);
      await store.hit(c, T, RULE);
      const seen = await store.peek([a, b], T);
      expect([...seen.keys()]).toEqual([a]);
      expect((await store.peek([], T)).size).toBe(0);
    });

    it('refund takes back one attempt; below freeAttempts the block ends now; an absent key stays absent', async () => {
      const k = key();
      for (let i = 0; i < 3; i++) await store.hit(k, T, RULE); // count 3, blocked until T + 10
      await store.refund(k, T + 2, RULE);
      expect((await store.peek([k], T + 2)).get(k)).toEqual({ count: 2, blockedUntil: 0 });
      expect((await store.hit(k, T + 2, RULE)).counted).toBe(true);
      // At or above freeAttempts after the refund, the block stays.
      const j = key();
      for (let i = 0; i < 4; i++) await store.hit(j, T + 20 * i, RULE); // count 4, blocked until T + 80
      await store.refund(j, T + 61, RULE);
      expect((await store.peek([j], T + 61)).get(j)).toEqual({ count: 3, blockedUntil: T + 80 });
      const none = key();
      await store.refund(none, T, RULE);
      expect((await store.peek([none], T)).size).toBe(0);
    });

    it('clear forgets a key at once (a blocked one too)', async () => {
      const k = key();
      for (let i = 0; i < 3; i++) await store.hit(k, T, RULE);
      await store.clear(k);
      expect((await store.peek([k], T)).size).toBe(0);
      expect(await store.hit(k, T, RULE)).toEqual({ counted: true, count: 1, blockedUntil: 0 });
    });

    it('a clock behind the one that counted (another server, a step back) sees no block where there was no delay', async () => {
      const k = key();
      await store.hit(k, T + 600, RULE);
      await store.hit(k, T + 600, RULE);
      expect((await store.peek([k], T)).get(k)).toEqual({ count: 2, blockedUntil: 0 });
      expect(await store.hit(k, T, RULE)).toEqual({ counted: true, count: 3, blockedUntil: T + 10 });
      // A real block is honoured as written (T + 10), whoever reads it.
      expect((await store.hit(k, T + 5, RULE)).counted).toBe(false);
    });

    it('atomic: 50 concurrent hits on one key count exactly freeAttempts, the other 47 are refused', async () => {
      const k = key();
      const results = await Promise.all(Array.from({ length: 50 }, () => Promise.resolve().then(() => store.hit(k, T, RULE))));
      expect(results.filter((r) => r.counted)).toHaveLength(3);
      expect(results.filter((r) => !r.counted).every((r) => r.blockedUntil === T + 10)).toBe(true);
    });

    it('keys are independent and may be long and unusual', async () => {
      const long = `u:${'x'.repeat(2000)}${randomUUID()}`;
      const odd = `a:'; DROP TABLE attempts; --${randomUUID()}`;
      for (let i = 0; i < 3; i++) await store.hit(long, T, RULE);
      expect((await store.hit(odd, T, RULE)).count).toBe(1);
      expect((await store.peek([long, odd], T)).get(long)?.count).toBe(3);
    });

    it('purge keeps live entries; forgotten ones stay absent (deleted, or collected by the backend\'s own expiry)', async () => {
      const [old, live] = [key(), key()];
      await store.hit(old, T - 1000, RULE);
      await store.hit(live, T, RULE);
      await store.purge(T);
      expect((await store.peek([live], T)).get(live)?.count).toBe(1);
      expect((await store.peek([old], T)).size).toBe(0);
      expect((await store.hit(old, T, RULE)).count).toBe(1);
    });

    it('a fleet: two stores on one backing store see each other\'s failures and blocks', async (ctx) => {
      if (!h.shared) ctx.skip();
      const other = await h.open();
      const k = key();
      await store.hit(k, T, RULE);
      await other.hit(k, T, RULE);
      expect(await store.hit(k, T, RULE)).toMatchObject({ counted: true, count: 3 });
      expect(await other.hit(k, T + 1, RULE)).toEqual({ counted: false, count: 3, blockedUntil: T + 10 });
    });
  });
}
