/**
 * The authorization server's replay-cache quota (`dpop.replayQuota.store`) in Redis, shared by
 * every server of a fleet: a holder (a confidential client, or one DPoP key of a public client)
 * has at most `limit` live entries in the shared replay cache, however many servers its
 * requests reach. Counted in this process only, the bound would be `limit` per server.
 *
 * One sorted set per holder: a member per entry, scored by the second it expires. `take` is a
 * Lua script, so it runs alone in Redis: it drops the expired members, counts the rest and adds
 * one only below the limit (else answers when the oldest expires); of any number of concurrent
 * takes in any number of processes, no more than `limit` succeed. `release` removes one member
 * of the given expiry. Expiry is judged by the callers' clock, like the replay cache's; the
 * key's own TTL, a minute past its last entry, only collects it. Errors are thrown as they are:
 * the authorization server then refuses with 503, as it does when the replay cache fails.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { QuotaTake, ReplayQuota } from '../authorization-server/replay-quota.js';
import { storeClient, type RedisStoreConnection } from './redis-connection.js';

export interface RedisReplayQuotaOptions extends RedisStoreConnection {
  /** Prefix of every key (default `dpopkit:quota:`). */
  keyPrefix?: string;
}

export interface RedisReplayQuota extends ReplayQuota {
  /** Disconnect the client this store created (a client passed in is left alone). */
  close(): Promise<void>;
}

/** ARGV: now, limit, expiresAt, member. Answers {1} or {0, the oldest entry's expiry}. */
const TAKE = `local now, limit, at = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2])}
end
redis.call('ZADD', KEYS[1], at, ARGV[4])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIRE', KEYS[1], math.max(1, math.ceil(tonumber(last[2]) - now)) + 60)
return {1}`;

/** ARGV: expiresAt. Removes one member with that expiry. */
const RELEASE = `local m = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1], 'LIMIT', 0, 1)
if m[1] then redis.call('ZREM', KEYS[1], m[1]) end
return 1`;

type Scripted = { quotaTake(key: string, ...args: Array<number | string>): Promise<[number, number?]>; quotaRelease(key: string, at: number): Promise<number> };

export function createRedisReplayQuota(options: RedisReplayQuotaOptions = {}): RedisReplayQuota {
  const prefix = options.keyPrefix ?? 'dpopkit:quota:';
  const { scripted, connected, close } = storeClient<Scripted>(options, { quotaTake: TAKE, quotaRelease: RELEASE });

  return {
    async take(holder, limit, expiresAt, now): Promise<QuotaTake> {
      await connected();
      // Whole seconds, as the in-process count keeps them; the member only has to be unique.
      const [ok, oldest] = await scripted.quotaTake(prefix + holder, now, limit, Math.ceil(expiresAt), randomBytes(9).toString('base64url'));
      return ok === 1 ? { ok: true } : { ok: false, retryAfter: Math.max(1, Math.ceil(Number(oldest) - now)) };
    },
    async release(holder, expiresAt) {
      await connected();
      await scripted.quotaRelease(prefix + holder, Math.ceil(expiresAt));
    },
    close,
  };
}
