/**
 * The failed-attempt counters (`AttemptStore`) in Redis, for a fleet that would rather keep
 * them next to its Redis replay cache than in its database (`throttle.store`).
 *
 * One hash per key (`f` failures, `b` blocked until, `e` expires at, epoch seconds of the
 * callers' clocks). `hit` and `refund` are Lua scripts, so each runs alone in Redis: of any
 * number of concurrent hits on a blocked key, in any number of processes, none is counted.
 * Entries are forgotten by the callers' clock (`e`), like the SQL store; the Redis TTL, a
 * minute longer, only collects them. Errors are thrown as they are: the authorization server
 * then counts in its own process until Redis is back (logged).
 *
 * @module
 */
import { storeClient, type RedisStoreConnection } from './redis-connection.js';
import type { AttemptState, AttemptStore } from '../authorization-server/throttle.js';

export interface RedisAttemptStoreOptions extends RedisStoreConnection {
  /** Prefix of every key (default `dpopkit:attempts:`). */
  keyPrefix?: string;
}

export interface RedisAttemptStore extends AttemptStore {
  /** Disconnect the client this store created (a client passed in is left alone). */
  close(): Promise<void>;
}

/** ARGV: now, freeAttempts, delay, maxDelay, resetAfter. Answers {counted, failures, blockedUntil}. */
const HIT = `local now, free, d0, cap, reset = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'f', 'b', 'e')
local f, b, e = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
local live = f ~= nil and e > now
if live and b > now then return {0, f, b} end
local n = 1
if live then n = f + 1 end
local delay = 0
if n >= free then delay = math.min(cap, d0 * 2 ^ math.min(n - free, 30)) end
local nb = 0
if delay > 0 then nb = now + delay end
local ne = now + delay + reset
redis.call('HSET', KEYS[1], 'f', n, 'b', nb, 'e', ne)
redis.call('EXPIRE', KEYS[1], ne - now + 60)
return {1, n, nb}`;

/** ARGV: now, freeAttempts. */
const REFUND = `local now, free = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'f', 'e')
local f, e = tonumber(v[1]), tonumber(v[2])
if f == nil or e <= now then return 0 end
f = math.max(f - 1, 0)
if f < free then redis.call('HSET', KEYS[1], 'f', f, 'b', 0) else redis.call('HSET', KEYS[1], 'f', f) end
return 1`;

type Scripted = { attemptsHit(key: string, ...args: number[]): Promise<[number, number, number]>; attemptsRefund(key: string, ...args: number[]): Promise<number> };

export function createRedisAttemptStore(options: RedisAttemptStoreOptions = {}): RedisAttemptStore {
  const prefix = options.keyPrefix ?? 'dpopkit:attempts:';
  const { redis, scripted, connected, close } = storeClient<Scripted>(options, { attemptsHit: HIT, attemptsRefund: REFUND });
  const k = (key: string) => prefix + key;

  return {
    async peek(keys, now) {
      await connected();
      const rows = await Promise.all(keys.map((key) => redis.hmget(k(key), 'f', 'b', 'e')));
      const out = new Map<string, AttemptState>();
      rows.forEach(([f, b, e], i) => {
        if (f !== null && Number(e) > now) out.set(keys[i]!, { count: Number(f), blockedUntil: Number(b) });
      });
      return out;
    },
    async hit(key, now, rule) {
      await connected();
      const [counted, count, blockedUntil] = await scripted.attemptsHit(k(key), now, rule.freeAttempts, rule.delay, rule.maxDelay, rule.resetAfter);
      return { counted: counted === 1, count: Number(count), blockedUntil: Number(blockedUntil) };
    },
    async refund(key, now, rule) {
      await connected();
      await scripted.attemptsRefund(k(key), now, rule.freeAttempts);
    },
    async clear(key) {
      await connected();
      await redis.del(k(key));
    },
    // Redis collects forgotten entries by their TTL.
    async purge() {},
    close,
  };
}
