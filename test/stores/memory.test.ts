import { describe, expect, it } from 'vitest';
import { halfSipHash128 } from '../../src/stores/half-siphash.js';
import { createMemoryReplayCache } from '../../src/stores/memory.js';
import { DPoPError } from '../../src/core/errors.js';

describe('memory replay cache (RFC 9449 §11.1)', () => {
  it('records a key once; a second reserve within its life is a replay', () => {
    const cache = createMemoryReplayCache({ clock: () => 1000 });
    expect(cache.reserve('jkt:a', 1300)).toBe(true);
    expect(cache.reserve('jkt:a', 1300)).toBe(false);
    expect(cache.reserve('jkt:b', 1300)).toBe(true);
  });

  it('forgets an entry only after it expires', () => {
    let now = 1000;
    const cache = createMemoryReplayCache({ clock: () => now });
    cache.reserve('k', 1300);
    now = 1299;
    expect(cache.reserve('k', 1600)).toBe(false);
    now = 1301;
    expect(cache.reserve('k', 1600)).toBe(true);
  });

  it('CVE-2026-41707: when full of live entries it refuses new proofs instead of evicting the oldest', () => {
    let now = 1000;
    const cache = createMemoryReplayCache({ maxEntries: 100, clock: () => now });
    expect(cache.reserve('victim-proof', 1300)).toBe(true);
    // The attacker floods the cache with throw-away proofs…
    let refused: unknown;
    for (let i = 0; i < 200 && !refused; i++) {
      try {
        cache.reserve(`attacker-${i}`, 1300);
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toBeInstanceOf(DPoPError);
    expect(refused).toMatchObject({ reason: 'replay_cache_full', status: 503 });
    // …but the victim's proof is still remembered: the replay is refused.
    expect(cache.reserve('victim-proof', 1300)).toBe(false);
    // Once entries expire there is room again.
    now = 1301;
    expect(cache.reserve('new-proof', 1600)).toBe(true);
  });

  it('grows its table and keeps every live entry across growth', () => {
    const cache = createMemoryReplayCache({ clock: () => 0 });
    for (let i = 0; i < 20_000; i++) expect(cache.reserve(`k${i}`, 100)).toBe(true);
    for (let i = 0; i < 20_000; i++) expect(cache.reserve(`k${i}`, 100)).toBe(false);
    expect(cache.size).toBe(20_000);
  });

  it('reserve answers synchronously (so no await can interleave two copies), and copies spread across table growth still pass once', () => {
    const cache = createMemoryReplayCache({ clock: () => 1000 });
    const first = cache.reserve('same', 1300);
    // A boolean, not a promise: the check and the insert happen in one step on one thread.
    expect(first).toBe(true);
    const outcomes: boolean[] = [];
    // Between the copies, thousands of other keys force the table to grow (rehash) several
    // times: a copy must still find the entry wherever the rehash moved it.
    for (let i = 0; i < 5000; i++) {
      expect(cache.reserve(`other-${i}`, 1300)).toBe(true);
      if (i % 500 === 0) outcomes.push(cache.reserve('same', 1300) as boolean);
    }
    expect(outcomes).toEqual(Array(10).fill(false));
  });

  it('keeps an entry alive at least one second even when expiresAt is already past (never negative TTL)', () => {
    const cache = createMemoryReplayCache({ clock: () => 1000 });
    expect(cache.reserve('k', 10)).toBe(true);
    expect(cache.reserve('k', 10)).toBe(false);
  });
  it('hash flooding: jtis ground to share one slot under a known hash key do not build a long probe run (secret per-cache key)', () => {
    // An attacker (with any key of their own) who knew the digest key would pick jtis whose
    // digest shares its low 10 bits: in the initial 1024-slot table they would all probe one run,
    // so each insert walks it. Grind against the cache's own digest under a key they could know.
    const knownKey = new Uint32Array(4);
    const digest = new Uint32Array(4);
    const keys: string[] = [];
    for (let n = 0; keys.length < 150; n++) {
      const key = `attacker-jkt:jti-${n}`;
      halfSipHash128(knownKey, key, digest);
      if ((digest[0]! & 1023) === 0) keys.push(key);
    }
    const cache = createMemoryReplayCache({ clock: () => 1000 });
    for (const key of keys) expect(cache.reserve(key, 1300)).toBe(true);
    // 150 keys in 1024 slots: a random layout keeps runs short; a table under the known key would reach 150.
    expect(cache.longestProbe).toBeLessThan(20);
  });
});
