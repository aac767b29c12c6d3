/**
 * The `ReplayCache` contract (src/core/replay.ts, RFC 9449 §11.1): one suite every replay cache
 * must pass. Run from test/stores/replay-cache.contract.test.ts against memory and Redis.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayKey, type ReplayCache } from '../../src/core/replay.js';

export interface ReplayCacheHarness {
  cache: ReplayCache;
  cleanup(): Promise<void>;
  /**
   * Let `seconds` pass for the cache. A cache that reads the injected clock only needs the clock
   * moved (the default); one whose entries expire on a server's own clock (Redis) must wait.
   */
  advance?(seconds: number): Promise<void>;
}

/** The test clock every cache under contract is built with (epoch seconds). */
export interface TestClock {
  (): number;
  set(seconds: number): void;
}

const jkt = () => randomUUID().replaceAll('-', '').padEnd(43, 'x');

export function replayCacheContract(name: string, make: (clock: TestClock) => Promise<ReplayCacheHarness>): void {
  describe(`ReplayCache contract: ${name}`, () => {
    let h: ReplayCacheHarness;
    let t = Math.floor(Date.now() / 1000);
    const clock = Object.assign(() => t, { set: (seconds: number) => void (t = seconds) }) as TestClock;
    const nowS = () => clock();
    const advance = async (seconds: number) => {
      t += seconds;
      await h.advance?.(seconds);
    };
    beforeAll(async () => {
      h = await make(clock);
    });
    afterAll(async () => {
      await h?.cleanup();
    });
    const reserve = async (key: string, expiresAt: number) => h.cache.reserve(key, expiresAt);

    it('RFC 9449 §11.1: a new key is accepted (true); the same key again is a replay (false)', async () => {
      const key = replayKey(jkt(), 'jti-1');
      expect(await reserve(key, nowS() + 300)).toBe(true);
      expect(await reserve(key, nowS() + 300)).toBe(false);
      expect(await reserve(key, nowS() + 600)).toBe(false);
    });

    it('RFC 9449 §11.1: 100 concurrent copies of one proof → exactly one accepted (atomic insert-if-absent)', async () => {
      const key = replayKey(jkt(), randomUUID());
      const results = await Promise.all(Array.from({ length: 100 }, () => Promise.resolve().then(() => reserve(key, nowS() + 300))));
      expect(results.filter((x) => x === true)).toHaveLength(1);
      expect(results.filter((x) => x === false)).toHaveLength(99);
    });

    it('jti spaces are per key thumbprint: the same jti under two jkts are two entries', async () => {
      const jti = randomUUID();
      const [a, b] = [jkt(), jkt()];
      expect(await reserve(replayKey(a, jti), nowS() + 300)).toBe(true);
      expect(await reserve(replayKey(b, jti), nowS() + 300)).toBe(true);
      expect(await reserve(replayKey(a, jti), nowS() + 300)).toBe(false);
      expect(await reserve(replayKey(b, jti), nowS() + 300)).toBe(false);
    });

    it('1,000 distinct proofs are all accepted once, then all refused', async () => {
      const k = jkt();
      const keys = Array.from({ length: 1000 }, (_, i) => replayKey(k, `jti-${i}`));
      const exp = nowS() + 300;
      expect((await Promise.all(keys.map((x) => reserve(x, exp)))).every((x) => x === true)).toBe(true);
      expect((await Promise.all(keys.map((x) => reserve(x, exp)))).every((x) => x === false)).toBe(true);
    });

    it('long and unusual jti values are distinct entries (no truncation, no key injection)', async () => {
      const k = jkt();
      const long = 'x'.repeat(8192);
      expect(await reserve(replayKey(k, long), nowS() + 300)).toBe(true);
      expect(await reserve(replayKey(k, long + 'y'), nowS() + 300)).toBe(true);
      expect(await reserve(replayKey(k, long), nowS() + 300)).toBe(false);
      expect(await reserve(replayKey(k, 'a b\r\n*1\r\n{tag}ü'), nowS() + 300)).toBe(true);
      expect(await reserve(replayKey(k, 'a b\r\n*1\r\n{tag}ü'), nowS() + 300)).toBe(false);
    });

    it('expiry is honoured: present until expiresAt (replay refused), gone after it (accepted again)', async () => {
      const key = replayKey(jkt(), randomUUID());
      const expiresAt = nowS() + 2;
      expect(await reserve(key, expiresAt)).toBe(true);
      await advance(1);
      expect(await reserve(key, expiresAt)).toBe(false); // still inside its window
      await advance(1.5);
      expect(await reserve(key, nowS() + 300)).toBe(true); // window over: a new entry
    });

    it('never a negative TTL: an expiresAt already past still records the key (replay refused right after)', async () => {
      const key = replayKey(jkt(), randomUUID());
      expect(await reserve(key, nowS() - 100)).toBe(true);
      expect(await reserve(key, nowS() - 100)).toBe(false);
    });
  });
}
