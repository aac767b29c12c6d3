/**
 * The in-memory {@link AttemptStore}: failed-attempt counters of one process. The authorization
 * server falls back to it when its storage offers no shared store, and while the shared store
 * cannot be reached; tests use it directly. Every operation runs synchronously to its end, so
 * `hit` is atomic.
 *
 * Bounded: past `maxEntries`, forgotten entries go first, then entries that are not blocked
 * (oldest first), and blocked entries last, so flooding the table with new keys does not lift
 * a block (and each new key costs the flooder a counted, throttled attempt).
 *
 * @module
 */
import type { AttemptState, AttemptStore, ThrottleRule } from '../authorization-server/throttle.js';
import { invalidArgument } from '../core/argument-error.js';

export interface MemoryAttemptStoreOptions {
  /** Most entries held (default 100,000). */
  maxEntries?: number;
}

/** The delay after the `count`-th failure (the formula of `AttemptStore.hit`). */
function delayFor(count: number, rule: ThrottleRule): number {
  if (count < rule.freeAttempts) return 0;
  return Math.min(rule.maxDelay, rule.delay * 2 ** Math.min(count - rule.freeAttempts, 30));
}

export function createMemoryAttemptStore(options: MemoryAttemptStoreOptions = {}): AttemptStore {
  const maxEntries = options.maxEntries ?? 100_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw invalidArgument('maxEntries must be a positive integer');
  // Map order is last-write order: `hit` re-inserts, so the first entries are the stalest.
  const entries = new Map<string, AttemptState & { expiresAt: number }>();

  const live = (key: string, now: number) => {
    const e = entries.get(key);
    if (e && e.expiresAt <= now) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };
  const makeRoom = (now: number) => {
    if (entries.size < maxEntries) return;
    for (const [key, e] of entries) if (e.expiresAt <= now) entries.delete(key);
    for (const [key, e] of entries) {
      if (entries.size < maxEntries) return;
      if (e.blockedUntil <= now) entries.delete(key);
    }
    for (const key of entries.keys()) {
      if (entries.size < maxEntries) return;
      entries.delete(key);
    }
  };

  return {
    async peek(keys, now) {
      const out = new Map<string, AttemptState>();
      for (const key of keys) {
        const e = live(key, now);
        if (e) out.set(key, { count: e.count, blockedUntil: e.blockedUntil });
      }
      return out;
    },
    async hit(key, now, rule) {
      const e = live(key, now);
      if (e && e.blockedUntil > now) return { counted: false, count: e.count, blockedUntil: e.blockedUntil };
      const count = (e?.count ?? 0) + 1;
      const delay = delayFor(count, rule);
      // No delay is 0, not `now`: a server whose clock is behind must not read it as a block.
      const blockedUntil = delay > 0 ? now + delay : 0;
      entries.delete(key);
      makeRoom(now);
      entries.set(key, { count, blockedUntil, expiresAt: now + delay + rule.resetAfter });
      return { counted: true, count, blockedUntil };
    },
    async refund(key, now, rule) {
      const e = live(key, now);
      if (!e) return;
      e.count = Math.max(e.count - 1, 0);
      if (e.count < rule.freeAttempts) e.blockedUntil = 0;
    },
    async clear(key) {
      entries.delete(key);
    },
    async purge(now) {
      for (const [key, e] of entries) if (e.expiresAt <= now) entries.delete(key);
    },
  };
}
