/**
 * The in-memory replay cache: the default for a single process (RFC 9449 §11.1).
 *
 * An open-addressing hash table over typed arrays: each entry is a 128-bit digest of
 * `jkt:jti` (keyed HalfSipHash under a random per-cache key, so nobody can choose `jti`s that
 * pile up in one probe run and make every insert slow; see `half-siphash.ts`) plus a 32-bit
 * expiry, so a million live proofs take about 40 MB, with no per-entry objects for the garbage
 * collector. When it is full of *live* entries it refuses new proofs
 * (`replay_cache_full`, answered 503) instead of evicting one: evicting oldest-first lets an
 * attacker flush a captured proof out and replay it (Spring Security CVE-2026-41707).
 * Every `reserve` runs synchronously, so two concurrent copies of one proof can never both pass.
 *
 * @module
 */
import { backend } from '#crypto';
import { DPoPError } from '../core/errors.js';
import type { ReplayCache } from '../core/replay.js';
import { halfSipHash128 } from './half-siphash.js';
import { invalidArgument } from '../core/argument-error.js';

export interface MemoryReplayCacheOptions {
  /** Most live entries held at once (default 1,000,000). Past it, new proofs are refused. */
  maxEntries?: number;
  /** Clock in epoch seconds (tests). */
  clock?: () => number;
}

export interface MemoryReplayCache extends ReplayCache {
  /** Occupied slots (live entries, plus expired ones not yet reclaimed). */
  readonly size: number;
  /** Bytes held by the table. */
  readonly bytes: number;
  /** Longest probe run an insert has walked (diagnostics: stays short unless the table is attacked). */
  readonly longestProbe: number;
}

const WORDS = 4; // 128-bit digest as four uint32 words
const MAX_LOAD = 0.7;
const INITIAL_SLOTS = 1024;

export function createMemoryReplayCache(options: MemoryReplayCacheOptions = {}): MemoryReplayCache {
  const maxEntries = options.maxEntries ?? 1_000_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw invalidArgument('maxEntries must be a positive integer');
  const clock = options.clock ?? (() => Date.now() / 1000);
  const maxSlots = nextPowerOfTwo(Math.ceil(maxEntries / MAX_LOAD));

  let slots = Math.min(INITIAL_SLOTS, maxSlots);
  let digests = new Uint32Array(slots * WORDS);
  let expiries = new Uint32Array(slots); // 0 = empty slot
  let used = 0;
  let nextSweep = 0;
  let longestProbe = 0;
  // The secret key keeps slot positions secret: with an unkeyed hash anyone could grind jtis
  // whose digests share their low bits and build one long probe run (hash flooding).
  const hashKey = new Uint32Array(Uint8Array.from(backend.randomBytes(16)).buffer);
  const digest = new Uint32Array(4);

  /** Insert without checks, into fresh arrays (growth and sweeps). */
  function place(d: Uint32Array, e: Uint32Array, mask: number, a: number, b: number, c: number, x: number, expiry: number): void {
    let i = a & mask;
    while (e[i] !== 0) i = (i + 1) & mask;
    const o = i * WORDS;
    d[o] = a; d[o + 1] = b; d[o + 2] = c; d[o + 3] = x;
    e[i] = expiry;
  }

  /** Rebuild the table at `size` slots, keeping only entries live at `now`. */
  function rebuild(size: number, now: number): void {
    const d = new Uint32Array(size * WORDS);
    const e = new Uint32Array(size);
    const mask = size - 1;
    let count = 0;
    for (let i = 0; i < slots; i++) {
      const expiry = expiries[i]!;
      if (expiry !== 0 && expiry > now) {
        const o = i * WORDS;
        place(d, e, mask, digests[o]!, digests[o + 1]!, digests[o + 2]!, digests[o + 3]!, expiry);
        count++;
      }
    }
    digests = d; expiries = e; slots = size; used = count;
  }

  function reserve(key: string, expiresAt: number): boolean {
    const now = clock();
    halfSipHash128(hashKey, key, digest);
    const a = digest[0]!, b = digest[1]!, c = digest[2]!, x = digest[3]!;
    const expiry = Math.max(Math.ceil(expiresAt), Math.floor(now) + 1);
    const mask = slots - 1;
    let i = a & mask;
    let reusable = -1;
    let probe = 0;
    // Probe the whole run: the key may sit after an expired slot.
    while (expiries[i] !== 0) {
      if (++probe > longestProbe) longestProbe = probe;
      const o = i * WORDS;
      const live = expiries[i]! > now;
      if (digests[o] === a && digests[o + 1] === b && digests[o + 2] === c && digests[o + 3] === x) {
        if (live) return false; // §11.1: seen within its window: a replay
        expiries[i] = expiry; // the old entry had expired: this is a new proof
        return true;
      }
      if (!live && reusable === -1) reusable = i;
      i = (i + 1) & mask;
    }
    if (reusable !== -1) {
      const o = reusable * WORDS;
      digests[o] = a; digests[o + 1] = b; digests[o + 2] = c; digests[o + 3] = x;
      expiries[reusable] = expiry;
      return true;
    }
    if (used + 1 > slots * MAX_LOAD || used + 1 > maxEntries) {
      if (slots < maxSlots) rebuild(slots * 2, now);
      else if (now >= nextSweep) {
        rebuild(slots, now); // reclaim expired entries; at most once a second when full
        nextSweep = now + 1;
      }
      if (used + 1 > maxEntries || used + 1 > slots * MAX_LOAD) {
        throw new DPoPError('temporarily_unavailable', 'replay_cache_full', 'the replay cache is full of live proofs; try again shortly');
      }
      place(digests, expiries, slots - 1, a, b, c, x, expiry);
      used++;
      return true;
    }
    const o = i * WORDS;
    digests[o] = a; digests[o + 1] = b; digests[o + 2] = c; digests[o + 3] = x;
    expiries[i] = expiry;
    used++;
    return true;
  }

  return {
    reserve,
    get size() {
      return used;
    },
    get bytes() {
      return digests.byteLength + expiries.byteLength;
    },
    get longestProbe() {
      return longestProbe;
    },
  };
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The authorization server's failed-attempt counters for one process (see `memory-throttle.ts`). */
export { createMemoryAttemptStore, type MemoryAttemptStoreOptions } from './memory-throttle.js';
export { createMemoryStorage, type MemoryStorageOptions } from './memory-storage.js';
