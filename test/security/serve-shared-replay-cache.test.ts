/**
 * Attack: in `dpopkit serve` the authorization server and the demo API shared one replay cache
 * and one nonce secret. Filling the cache through one server (it never evicts a live entry,
 * so once full it refuses every proof) stopped the other: the API answered 503 after a flood
 * at the token endpoint. And a nonce handed out by one server was good at the other.
 *
 * Defence: the two roles share no replay state. The API has a replay cache of its own (its own
 * memory table; on Redis the key prefix `<prefix>api:`; on PostgreSQL the schema
 * `<schema>_api`; or `api.replayCache` in the configuration), and each role's nonce secret is
 * derived from the configured one with HKDF (RFC 5869) under its own label, so a flood at one
 * server never stops the other and their nonces differ. The servers are built in-process
 * exactly as `dpopkit serve` builds them (`startServers` on a parsed configuration).
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/cli/config/load.js';
import { NONCE_LABELS, roleNonceSecret, startServers, type Running } from '../../src/cli/serve/start.js';
import { apiReplayCacheConfig } from '../../src/cli/serve/stores.js';
import { basic, dpopKey, PG_URL, postForm, type DPoPKey } from '../authorization-server/support/harness.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { demoConfigOn } from '../../scripts/demo-config.mjs';
import { freePorts } from '../support/serve-process.js';

const SERVICE = basic('demo-service', 'demo-service-secret-change-me');
const NONCE_SECRET = 'serve-test-nonce-secret-0123456789abcdef';

interface Started {
  running: Running;
  token: string;
  api: string;
}

/** The shipped demo configuration (AS and API), on free ports, PGlite in memory, silent, with `edit` applied. */
async function start(edit: (config: any) => void = () => {}): Promise<Started> {
  const ports = await freePorts();
  const raw = demoConfigOn(ports);
  raw.authorizationServer.storage = { type: 'pglite' };
  raw.authorizationServer.dpop = { ...raw.authorizationServer.dpop, nonce: { secret: NONCE_SECRET } };
  raw.log = { level: 'silent' };
  delete raw.demo; // the browser page plays no part here (and needs a build)
  edit(raw);
  const running = await startServers(parseConfig(raw));
  return { running, token: `http://localhost:${ports.as}/token`, api: `http://localhost:${ports.api}/api/hello` };
}

/** A DPoP client_credentials token for demo-service, and the AS nonce it learnt on the way. */
async function serviceToken(s: Started, key: DPoPKey): Promise<{ accessToken: string; asNonce: string }> {
  const challenge = await postForm(s.token, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: SERVICE, dpop: await key.proof(s.token) });
  expect((await challenge.json()).error).toBe('use_dpop_nonce');
  const asNonce = challenge.headers.get('dpop-nonce')!;
  const res = await postForm(s.token, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: SERVICE, dpop: await key.proof(s.token, { nonce: asNonce }) });
  expect(res.status).toBe(200);
  return { accessToken: (await res.json()).access_token, asNonce };
}

async function callApi(s: Started, key: DPoPKey, accessToken: string, nonce?: string): Promise<Response> {
  return fetch(s.api, { headers: { authorization: `DPoP ${accessToken}`, dpop: await key.proof(s.api, { htm: 'GET', accessToken, nonce }) } });
}

/** The API's nonce, from its first challenge (RFC 9449 §9). */
async function apiNonce(s: Started, key: DPoPKey, accessToken: string): Promise<string> {
  const res = await callApi(s, key, accessToken);
  expect(res.status).toBe(401);
  await res.text();
  return res.headers.get('dpop-nonce')!;
}

describe('dpopkit serve: the authorization server and the API share no replay cache and no nonce secret', () => {
  let current: Started | undefined;
  afterEach(async () => {
    await current?.running.close();
    current = undefined;
  });

  it('a flood that fills the authorization server\'s replay cache does not stop the API', async () => {
    const s = (current = await start((c) => { c.authorizationServer.replayCache = { type: 'memory', maxEntries: 30 }; }));
    const key = await dpopKey();
    const { accessToken, asNonce } = await serviceToken(s, key);
    const nonce = await apiNonce(s, key, accessToken);
    // An authenticated client spends proofs at the token endpoint until the AS's cache is full.
    let full: Response | undefined;
    for (let i = 0; i < 60 && !full; i++) {
      const res = await postForm(s.token, { grant_type: 'client_credentials' }, { auth: SERVICE, dpop: await key.proof(s.token, { nonce: asNonce }) });
      if (res.status === 503) full = res;
      else expect(res.status).toBe(200);
    }
    expect(full).toBeDefined();
    expect((await full!.json()).error_description).toMatch(/^replay_cache_full:/);
    // The API has its own cache: it is not full.
    const api = await callApi(s, key, accessToken, nonce);
    expect(api.status).toBe(200);
    expect(await api.json()).toMatchObject({ clientId: 'demo-service', scheme: 'DPoP' });
  });

  it('a flood that fills the API\'s replay cache does not stop the authorization server', async () => {
    const s = (current = await start((c) => { c.authorizationServer.replayCache = { type: 'memory', maxEntries: 30 }; }));
    const key = await dpopKey();
    const { accessToken, asNonce } = await serviceToken(s, key);
    const nonce = await apiNonce(s, key, accessToken);
    let full: Response | undefined;
    for (let i = 0; i < 60 && !full; i++) {
      const res = await callApi(s, key, accessToken, nonce);
      await res.text();
      if (res.status === 503) full = res;
      else expect(res.status).toBe(200);
    }
    expect(full).toBeDefined();
    const other = await dpopKey();
    const res = await postForm(s.token, { grant_type: 'client_credentials' }, { auth: SERVICE, dpop: await other.proof(s.token, { nonce: asNonce }) });
    expect(res.status).toBe(200);
    expect((await res.json()).token_type).toBe('DPoP');
  });

  it('the two servers\' nonces differ (HKDF per role), and the AS\'s nonce is refused by the API (use_dpop_nonce)', async () => {
    const s = (current = await start());
    const key = await dpopKey();
    const { accessToken, asNonce } = await serviceToken(s, key);
    const nonce = await apiNonce(s, key, accessToken);
    expect(nonce).not.toBe(asNonce);
    const withAsNonce = await callApi(s, key, accessToken, asNonce);
    expect(withAsNonce.status).toBe(401);
    expect(withAsNonce.headers.get('www-authenticate')).toMatch(/error="use_dpop_nonce"/);
    expect((await callApi(s, key, accessToken, nonce)).status).toBe(200);
    // Deterministic: every process of a fleet derives the same two from the shared secret.
    expect(roleNonceSecret(NONCE_SECRET, NONCE_LABELS.api)).toBe(roleNonceSecret(NONCE_SECRET, NONCE_LABELS.api));
    expect(roleNonceSecret(NONCE_SECRET, NONCE_LABELS.api)).not.toBe(roleNonceSecret(NONCE_SECRET, NONCE_LABELS.authorizationServer));
    expect(roleNonceSecret(NONCE_SECRET, NONCE_LABELS.api)).not.toBe(NONCE_SECRET);
  });

  it('the API\'s default replay cache is the AS\'s kind, kept apart; api.replayCache overrides it', () => {
    expect(apiReplayCacheConfig({ type: 'memory', maxEntries: 5 }, {})).toEqual({ type: 'memory', maxEntries: 5 });
    expect(apiReplayCacheConfig({ type: 'redis', url: REDIS_URL }, {})).toEqual({ type: 'redis', url: REDIS_URL, keyPrefix: 'dpopkit:jti:api:' });
    expect(apiReplayCacheConfig({ type: 'redis', url: REDIS_URL, keyPrefix: 'app:' }, {})).toEqual({ type: 'redis', url: REDIS_URL, keyPrefix: 'app:api:' });
    expect(apiReplayCacheConfig({ type: 'postgres', url: PG_URL }, {})).toEqual({ type: 'postgres', url: PG_URL, schema: 'dpopkit_api' });
    expect(apiReplayCacheConfig({ type: 'postgres', url: PG_URL, schema: 'mine' }, {})).toEqual({ type: 'postgres', url: PG_URL, schema: 'mine_api' });
    const own = { type: 'redis' as const, url: 'redis://other:6379' };
    expect(apiReplayCacheConfig({ type: 'memory' }, { replayCache: own })).toBe(own);
  });

  it.each([undefined, false])('on Redis, the API\'s proofs go under <prefix>api: and the AS\'s do not; the AS\'s quota count goes under <prefix>quota: unless replayQuota.shared is false (shared: %s; on by default)', async (shared) => {
    const prefix = uniquePrefix('serve');
    try {
      const s = (current = await start((c) => {
        c.authorizationServer.replayCache = { type: 'redis', url: REDIS_URL, keyPrefix: prefix };
        if (shared !== undefined) c.authorizationServer.dpop = { ...c.authorizationServer.dpop, replayQuota: { shared } };
      }));
      const key = await dpopKey();
      const { accessToken } = await serviceToken(s, key);
      const nonce = await apiNonce(s, key, accessToken);
      expect((await callApi(s, key, accessToken, nonce)).status).toBe(200);
      const redis = new Redis(REDIS_URL);
      try {
        const keys = await redis.keys(`${prefix}*`);
        const api = keys.filter((k) => k.startsWith(`${prefix}api:`));
        const quota = keys.filter((k) => k.startsWith(`${prefix}quota:`));
        expect(api).toHaveLength(1);
        // The AS's: the token request's proof, and its holder's quota count (none for the API).
        expect(quota).toEqual(shared === false ? [] : [`${prefix}quota:client:demo-service`]);
        expect(keys.length - api.length - quota.length).toBe(1);
      } finally {
        await redis.quit();
      }
    } finally {
      await dropPrefix(prefix);
    }
  });

  it.each([undefined, true, false])('on PostgreSQL, the API\'s proofs go to the <schema>_api schema and the AS\'s to its own; its quota count too with replayQuota.shared (shared: %s; off by default)', async (shared) => {
    const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    try {
      const s = (current = await start((c) => {
        c.authorizationServer.replayCache = { type: 'postgres', url: PG_URL, schema };
        if (shared !== undefined) c.authorizationServer.dpop = { ...c.authorizationServer.dpop, replayQuota: { shared } };
      }));
      const key = await dpopKey();
      const { accessToken } = await serviceToken(s, key);
      const nonce = await apiNonce(s, key, accessToken);
      expect((await callApi(s, key, accessToken, nonce)).status).toBe(200);
      const rows = async (name: string) => Number((await db.query(`SELECT count(*) AS n FROM "${name}".replay_cache`)).rows[0].n);
      expect(await rows(schema)).toBe(1);
      expect(await rows(`${schema}_api`)).toBe(1);
      // The AS's quota is counted in its schema (one live entry for the client) when shared,
      // else in the process; the API's nowhere.
      const quota = async (name: string) => Number((await db.query(`SELECT coalesce(sum(entries), 0) AS n FROM "${name}".replay_quota`)).rows[0].n);
      expect(await quota(schema)).toBe(shared === true ? 1 : 0);
      expect(await quota(`${schema}_api`)).toBe(0);
    } finally {
      await current?.running.close();
      current = undefined;
      await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.query(`DROP SCHEMA IF EXISTS "${schema}_api" CASCADE`);
      await db.end();
    }
  });
});
