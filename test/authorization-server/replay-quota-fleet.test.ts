/**
 * The replay-cache quota across a fleet (RFC 9449 §11.1; `dpop.replayQuota.store`): two
 * authorization servers sharing one replay cache, in Redis or in PostgreSQL. With the quota
 * counted in the shared store a client's entries are bounded once for the fleet; counted in each
 * process (the default), each server allows the full quota. A quota store that cannot be reached
 * fails closed: 503, nothing issued, no proof spent.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReplayCache } from '../../src/core/replay.js';
import type { ReplayQuota } from '../../src/authorization-server/replay-quota.js';
import { createMemoryStorage } from '../../src/stores/memory.js';
import { createPostgresReplayCache, createPostgresReplayQuota } from '../../src/stores/postgres.js';
import { createRedisReplayCache, createRedisReplayQuota } from '../../src/stores/redis.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { basic, dpopKey, postForm, SECRET, startServer, type Running } from './support/harness.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const prefix = uniquePrefix('quota-fleet');
const schema = `dpopkit_qf_${Math.random().toString(36).slice(2, 10)}`;
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await dropPrefix(prefix);
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await c.end();
});

type Backend = 'Redis' | 'PostgreSQL';

/** The fleet's shared replay cache and, when `quota` is 'shared', its quota store next to it. */
async function sharedStores(backend: Backend, tag: string, quota: boolean): Promise<{ cache: ReplayCache; store?: ReplayQuota }> {
  if (backend === 'Redis') {
    const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix: `${prefix}${tag}:jti:` });
    closers.push(() => cache.close());
    if (!quota) return { cache };
    const store = createRedisReplayQuota({ url: REDIS_URL, keyPrefix: `${prefix}${tag}:quota:` });
    closers.push(() => store.close());
    return { cache, store };
  }
  const cache = createPostgresReplayCache({ connectionString: PG_URL, schema });
  closers.push(() => cache.close());
  await cache.migrate();
  if (!quota) return { cache };
  const store = createPostgresReplayQuota({ connectionString: PG_URL, schema });
  closers.push(() => store.close());
  return { cache, store };
}

/** One server of the fleet: its own storage, the fleet's replay cache, and a shared quota store (or none: counted in this process). */
async function member(backend: Backend, tag: string, quota: 'shared' | 'process', perClient: number): Promise<Running> {
  const { cache, store } = await sharedStores(backend, tag, quota === 'shared');
  const s = await startServer(createMemoryStorage(), { replayCache: cache, dpop: { replayQuota: { perClient, ...(store ? { store } : {}) } } });
  closers.push(() => s.close());
  return s;
}

const cc = { grant_type: 'client_credentials' };

describe.each<Backend>(['Redis', 'PostgreSQL'])('replay-cache quota across two servers on one %s', (backend) => {
  it('counted in the shared store: a client has at most perClient live proofs for the whole fleet; the next, at either server, is 429 with Retry-After', async () => {
    const [a, b] = [await member(backend, 'shared', 'shared', 3), await member(backend, 'shared', 'shared', 3)];
    const key = await dpopKey();
    const ask = async (s: Running) => postForm(`${s.url}/token`, cc, { auth: basic('confidential', SECRET), dpop: await key.proof(`${s.url}/token`) });
    expect((await ask(a)).status).toBe(200);
    expect((await ask(b)).status).toBe(200);
    expect((await ask(a)).status).toBe(200);
    for (const s of [b, a]) {
      const over = await ask(s);
      expect(over.status).toBe(429);
      expect(await over.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/^replay_quota_exceeded: this client has 3 live entries/) });
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });

  it('counted in each process (the default): each server allows the full quota, so the fleet allows quota × servers', async () => {
    const [a, b] = [await member(backend, 'apart', 'process', 2), await member(backend, 'apart', 'process', 2)];
    const key = await dpopKey();
    const ask = async (s: Running) => postForm(`${s.url}/token`, cc, { auth: basic('confidential', SECRET), dpop: await key.proof(`${s.url}/token`) });
    expect([(await ask(a)).status, (await ask(a)).status, (await ask(a)).status]).toEqual([200, 200, 429]);
    expect([(await ask(b)).status, (await ask(b)).status, (await ask(b)).status]).toEqual([200, 200, 429]);
  });

  it('a quota store that cannot be reached: 503 temporarily_unavailable, no token, the proof not spent', async () => {
    const { cache } = await sharedStores(backend, 'down', false);
    const store =
      backend === 'Redis'
        ? createRedisReplayQuota({ url: 'redis://127.0.0.1:1', keyPrefix: `${prefix}down:quota:`, commandTimeoutMs: 200 })
        : createPostgresReplayQuota({ connectionString: 'postgres://root@127.0.0.1:1/test', schema, queryTimeoutMs: 200 });
    closers.push(() => store.close());
    const s = await startServer(createMemoryStorage(), { replayCache: cache, dpop: { replayQuota: { store } } });
    closers.push(() => s.close());
    const key = await dpopKey();
    const proof = await key.proof(`${s.url}/token`);
    const res = await postForm(`${s.url}/token`, cc, { auth: basic('confidential', SECRET), dpop: proof });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/^replay_cache_unavailable/) });
    // The proof's jti was not spent (the quota is taken first): reserving it now succeeds.
    const { jti } = JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string };
    expect(await cache.reserve(`${key.jkt}:${jti}`, Date.now() / 1000 + 60)).toBe(true);
  });
});

describe('replay-cache quota configuration', () => {
  it('a store that is not a ReplayQuota is refused at start, naming the option', async () => {
    await expect(startServer(createMemoryStorage(), { dpop: { replayQuota: { store: {} as never } } })).rejects.toThrow('dpop.replayQuota.store must be a ReplayQuota');
  });
});
