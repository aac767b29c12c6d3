import { createServer } from 'node:http';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { DPoPError } from '../../src/core/errors.js';
import { createProof, generateKeyPair, keyThumbprint, verifyProof } from '../../src/index.js';
import { toRequestLike, sendRejection } from '../../src/resource-server/adapters/node.js';
import { createResourceServer } from '../../src/resource-server/index.js';
import { createRedisReplayCache, evictionIsSafe } from '../../src/stores/redis.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { createErrorRespServer } from '../support/resp-server.js';
import { createTcpProxy } from '../support/tcp-proxy.js';
import { createTinyIssuer } from '../support/tiny-issuer.js';

const prefix = uniquePrefix('redis');
const admin = new Redis(REDIS_URL);
const nowS = () => Date.now() / 1000;
const URL_ = 'https://api.example.com/resource';

afterAll(async () => {
  await dropPrefix(prefix);
  await admin.quit();
});

/** Time a promise that must reject; returns the error and the milliseconds it took. */
async function timedRejection(p: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const start = performance.now();
  try {
    await p;
  } catch (err) {
    return { err, ms: performance.now() - start };
  }
  throw new Error('expected a rejection');
}

describe('Redis replay cache: keys and TTLs (RFC 9449 §11.1)', () => {
  it('one SET NX per proof under a short fixed-length key; TTL = the proof window left (from expiresAt)', async () => {
    const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix: prefix });
    const key = `jkt:${'j'.repeat(5000)}`;
    const k = cache.redisKey(key);
    expect(k).toMatch(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[A-Za-z0-9_-]{43}$`));
    expect(await cache.reserve(key, nowS() + 120)).toBe(true);
    expect(await admin.get(k)).toBe('1');
    const pttl = await admin.pttl(k);
    // 120 s from the cache's clock, less the moments between the SET and this PTTL.
    expect(pttl).toBeGreaterThan(110_000);
    expect(pttl).toBeLessThanOrEqual(120_000);
    await cache.close();
  });

  it('an expiresAt already past still stores the key for at least one second (never a negative TTL)', async () => {
    const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix: prefix });
    expect(await cache.reserve('jkt:past', nowS() - 3600)).toBe(true);
    const pttl = await admin.pttl(cache.redisKey('jkt:past'));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(1000);
    await cache.close();
  });

  it('Redis Cluster hash tags: per-key tag wraps the digest; a fixed tag puts every key in one slot', async () => {
    const perKey = createRedisReplayCache({ url: REDIS_URL, keyPrefix: `${prefix}{x}`, hashTag: true });
    const fixed = createRedisReplayCache({ url: REDIS_URL, keyPrefix: prefix, hashTag: 'replay' });
    expect(perKey.redisKey('a:b')).toMatch(/\{x\}\{[A-Za-z0-9_-]{43}\}$/);
    expect(fixed.redisKey('a:b')).toMatch(/\{replay\}[A-Za-z0-9_-]{43}$/);
    const slot = async (k: string) => Number(await admin.call('CLUSTER', 'KEYSLOT', k).catch(() => -1));
    // Where the server can compute slots (CLUSTER KEYSLOT works on a standalone Redis 7 too),
    // all fixed-tag keys share one slot.
    const [s1, s2] = [await slot(fixed.redisKey('a:1')), await slot(fixed.redisKey('b:2'))];
    if (s1 !== -1) expect(s1).toBe(s2);
    expect(await fixed.reserve('a:1', nowS() + 60)).toBe(true);
    expect(await fixed.reserve('a:1', nowS() + 60)).toBe(false);
    expect(() => createRedisReplayCache({ url: REDIS_URL, hashTag: 'a}b' })).toThrow(TypeError);
    await perKey.close();
    await fixed.close();
  });

  it('uses a caller-owned client and leaves it open on close()', async () => {
    const redis = new Redis(REDIS_URL);
    const cache = createRedisReplayCache({ redis, keyPrefix: prefix });
    expect(await cache.reserve('jkt:own', nowS() + 60)).toBe(true);
    expect(await cache.reserve('jkt:own', nowS() + 60)).toBe(false);
    await cache.close();
    expect(await redis.ping()).toBe('PONG');
    await redis.quit();
  });
});

describe('Redis replay cache: eviction (Spring Security CVE-2026-41707 by memory pressure)', () => {
  it('only a Redis without a memory limit or with noeviction can never drop a live replay entry', () => {
    expect(evictionIsSafe(0, 'allkeys-lru')).toBe(true);
    expect(evictionIsSafe(1e9, 'noeviction')).toBe(true);
    for (const policy of ['volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random']) {
      expect(evictionIsSafe(1e9, policy)).toBe(false);
    }
    expect(evictionIsSafe(undefined, undefined)).toBeUndefined();
  });

  it('checkEviction() reports the live server settings', async () => {
    const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix: prefix });
    // CONFIG GET answers name/value pairs in no fixed order (Redis 7 keeps them in a dict).
    const reply = (await admin.call('CONFIG', 'GET', 'maxmemory', 'maxmemory-policy')) as string[];
    const settings = new Map<string, string>();
    for (let i = 0; i + 1 < reply.length; i += 2) settings.set(reply[i]!, reply[i + 1]!);
    const maxmemory = Number(settings.get('maxmemory'));
    const policy = settings.get('maxmemory-policy');
    const check = await cache.checkEviction();
    expect(check).toEqual({ maxmemory, policy, safe: evictionIsSafe(maxmemory, policy) });
    await cache.close();
  });

  it('memoryUse() reads used_memory and maxmemory from INFO memory (the metrics\' fullness)', async () => {
    const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix: prefix });
    const info = String(await admin.call('INFO', 'memory'));
    const { usedBytes, maxBytes } = await cache.memoryUse();
    expect(usedBytes).toBeGreaterThan(0);
    expect(maxBytes).toBe(Number(/^maxmemory:(\d+)/m.exec(info)![1]));
    await cache.close();
  });
});

describe('Redis replay cache: fail closed, recover by itself', () => {
  it('Redis unreachable from the start: reserve rejects fast with replay_cache_unavailable (503)', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r())); // nothing listens there now
    // Timeouts far longer than the bound below: a rejection within it comes from the refused
    // connection itself, not from a timer running out (the bound leaves room for a busy machine).
    const cache = createRedisReplayCache({ url: `redis://127.0.0.1:${port}`, keyPrefix: prefix, commandTimeoutMs: 20_000, connectTimeoutMs: 20_000 });
    const { err, ms } = await timedRejection(cache.reserve('jkt:x', nowS() + 60));
    expect(err).toBeInstanceOf(DPoPError);
    expect(err).toMatchObject({ error: 'temporarily_unavailable', reason: 'replay_cache_unavailable', status: 503 });
    expect(ms).toBeLessThan(10_000);
    await cache.close();
  });

  it('outage through a TCP proxy: works → proxy closed: 503 replay_cache_unavailable at once (not after a timeout) → proxy back: accepted again, same cache object', async () => {
    const proxy = await createTcpProxy(6379);
    const cache = createRedisReplayCache({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: prefix, commandTimeoutMs: 20_000 });
    const keyPair = await generateKeyPair('ES256');
    const proof = () => createProof(keyPair, { htm: 'GET', htu: URL_ });

    // Up: a real proof passes verifyProof with the Redis cache; its replay is refused.
    const first = await proof();
    await expect(verifyProof(first, { method: 'GET', url: URL_, replayCache: cache })).resolves.toMatchObject({ jti: expect.any(String) });
    await expect(verifyProof(first, { method: 'GET', url: URL_, replayCache: cache })).rejects.toMatchObject({ reason: 'replayed', status: 401 });

    // Down: every connection reset, nothing listening.
    await proxy.close();
    const { err, ms } = await timedRejection(cache.reserve('jkt:during-outage', nowS() + 60));
    expect(err).toMatchObject({ reason: 'replay_cache_unavailable', status: 503 });
    expect(ms).toBeLessThan(10_000);
    const during = await proof();
    const verified = await timedRejection(verifyProof(during, { method: 'GET', url: URL_, replayCache: cache }));
    expect(verified.err).toBeInstanceOf(DPoPError);
    expect(verified.err).toMatchObject({ error: 'temporarily_unavailable', reason: 'replay_cache_unavailable', status: 503 });
    expect(verified.ms).toBeLessThan(10_000);

    // Back: the same cache object reconnects by itself within a few seconds.
    await proxy.reopen();
    const start = Date.now();
    let recovered = false;
    while (!recovered && Date.now() - start < 5000) {
      try {
        recovered = await cache.reserve(`jkt:after-${Date.now()}`, nowS() + 60);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(recovered).toBe(true);
    // The proof refused during the outage was never recorded (fail closed, not "accepted
    // unrecorded"), so it is accepted now, exactly once.
    await expect(verifyProof(during, { method: 'GET', url: URL_, replayCache: cache })).resolves.toBeDefined();
    await expect(verifyProof(during, { method: 'GET', url: URL_, replayCache: cache })).rejects.toMatchObject({ reason: 'replayed' });
    await cache.close();
    await proxy.close();
  });

  it('a hung Redis (connected, never answers): reserve fails closed after commandTimeoutMs', async () => {
    const proxy = await createTcpProxy(6379);
    const cache = createRedisReplayCache({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: prefix, commandTimeoutMs: 200 });
    expect(await cache.reserve('jkt:before-hang', nowS() + 60)).toBe(true);
    proxy.stall(true);
    const { err, ms } = await timedRejection(cache.reserve('jkt:hang', nowS() + 60));
    expect(err).toMatchObject({ reason: 'replay_cache_unavailable', status: 503 });
    // It is the configured timeout that ends the wait: not before it, and not never.
    expect(ms).toBeGreaterThanOrEqual(150);
    expect(ms).toBeLessThan(10_000);
    await cache.close();
    await proxy.close();
  });

  it('Redis answering with an error (OOM under noeviction) fails closed with 503, batched or not; never accepted', async () => {
    const server = await createErrorRespServer("OOM command not allowed when used memory > 'maxmemory'.");
    for (const batch of [true, false]) {
      const cache = createRedisReplayCache({ url: `redis://127.0.0.1:${server.port}`, keyPrefix: prefix, batch });
      const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => cache.reserve(`jkt:oom-${i}`, nowS() + 60)));
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toMatchObject({ reason: 'replay_cache_unavailable', status: 503 });
        expect(((r as PromiseRejectedResult).reason as DPoPError).detail?.cause).toMatch(/^OOM/);
      }
      await cache.close();
    }
    // The batched path sent one script call for the five proofs; the other path five SETs.
    expect(server.seen.filter((c) => c === 'EVALSHA' || c === 'EVAL')).toEqual(['EVALSHA']);
    expect(server.seen.filter((c) => c === 'SET')).toHaveLength(5);
    await server.close();
  });

  it('over real HTTP: a resource server on the Redis cache answers 503 while Redis is away and 200 again once it is back', async () => {
    const proxy = await createTcpProxy(6379);
    const cache = createRedisReplayCache({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: prefix });
    const issuer = await createTinyIssuer();
    const keyPair = await generateKeyPair('ES256');
    const api = 'https://api.example.com';
    const token = await issuer.mint(api, await keyThumbprint(keyPair));
    const rs = createResourceServer({ issuer: issuer.issuer, audience: api, jwksUri: issuer.jwksUri, publicUrl: api, replayCache: cache });
    const server = createServer(async (req, res) => {
      const result = await rs.verify(toRequestLike(req));
      if (!result.ok) return sendRejection(res, result);
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const get = async () => {
      const dpop = await createProof(keyPair, { htm: 'GET', htu: `${api}/items`, accessToken: token });
      const res = await fetch(`http://127.0.0.1:${port}/items`, { headers: { Authorization: `DPoP ${token}`, DPoP: dpop } });
      return { status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after') };
    };

    expect((await get()).status).toBe(200);
    await proxy.close();
    const down = await get();
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(down.retryAfter).toBe('1');
    await proxy.reopen();
    let status = 0;
    for (const start = Date.now(); status !== 200 && Date.now() - start < 5000; ) {
      status = (await get()).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);

    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await issuer.close();
    await cache.close();
    await proxy.close();
  });
});
