import net from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPGliteStorage, createPostgresReplayCache, createPostgresStorage, SCHEMA_VERSION } from '../../src/stores/postgres.js';
import { MIGRATIONS } from '../../src/stores/sql/schema.js';
import { createTcpProxy } from '../support/tcp-proxy.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const schemas: string[] = [];
const freshSchema = () => {
  const s = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
  schemas.push(s);
  return s;
};

afterAll(async () => {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await c.end();
});

describe('PostgreSQL storage: migrations (schema created or migrated on start)', () => {
  it('four instances migrating one fresh schema at once all succeed; the schema is at the current version once', async () => {
    const schema = freshSchema();
    const instances = Array.from({ length: 4 }, () => createPostgresStorage({ connectionString: PG_URL, schema }));
    await Promise.all(instances.map((s) => s.migrate()));
    await Promise.all(instances.map((s) => s.migrate())); // and again: idempotent
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    const { rows } = await c.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    const tables = await c.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [schema]);
    await c.end();
    expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      'attempts',
      'auth_sessions',
      'authorization_codes',
      'clients',
      'interactions',
      'pushed_requests',
      'refresh_families',
      'refresh_tokens',
      'replay_cache',
      'replay_quota',
      'revoked_access_tokens',
      'schema_migrations',
      'signing_keys',
      'totp_steps',
    ]);
    // Every instance works on the shared schema.
    await instances[0]!.revokeAccessToken('jti-shared', 2_000_000_000);
    expect(await instances[3]!.isAccessTokenRevoked('jti-shared', 1_700_000_000)).toBe(true);
    await Promise.all(instances.map((s) => s.close()));
  });

  it('upgrades a schema left at version 1 to the current version, keeping its data', async () => {
    const schema = freshSchema();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`CREATE SCHEMA "${schema}"`);
    await c.query(`CREATE TABLE "${schema}".schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)`);
    await c.query(MIGRATIONS[0]!(`"${schema}"`));
    await c.query(`INSERT INTO "${schema}".schema_migrations VALUES (1, 0)`);
    const storage = createPostgresStorage({ connectionString: PG_URL, schema });
    await storage.revokeAccessToken('jti-v1', 2_000_000_000); // written under version 1
    await storage.migrate();
    const { rows } = await c.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    expect(await storage.isAccessTokenRevoked('jti-v1', 1_700_000_000)).toBe(true);
    const cache = createPostgresReplayCache({ connectionString: PG_URL, schema });
    expect(await cache.reserve('jkt:jti', Date.now() / 1000 + 60)).toBe(true); // the version-2 table
    await Promise.all([cache.close(), storage.close(), c.end()]);
  });

  it('refuses a schema newer than this code instead of running against it', async () => {
    const schema = freshSchema();
    const storage = createPostgresStorage({ connectionString: PG_URL, schema });
    await storage.migrate();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`INSERT INTO "${schema}".schema_migrations (version, applied_at) VALUES ($1, 0)`, [SCHEMA_VERSION + 1]);
    await c.end();
    await expect(storage.migrate()).rejects.toThrow(/newer than this dpopkit/);
    await storage.close();
  });

  it('a caller-owned pool is used and left open by close()', async () => {
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    const storage = createPostgresStorage({ pool, schema: freshSchema() });
    await storage.migrate();
    await storage.revokeAccessToken('j', 2_000_000_000);
    await storage.close();
    const { rows } = await pool.query('SELECT 1 AS one');
    expect(rows[0].one).toBe(1);
    await pool.end();
  });

  it('rejects a schema name that is not a plain identifier (it is interpolated into SQL)', () => {
    expect(() => createPostgresStorage({ connectionString: PG_URL, schema: 'x"; DROP TABLE y; --' })).toThrow(TypeError);
    expect(() => createPGliteStorage({ schema: 'a-b' })).toThrow(TypeError);
    expect(() => createPostgresStorage({})).toThrow(TypeError);
  });

  it('an unreachable database rejects the call with an error; nothing crashes', async () => {
    const server = net.createServer((s) => s.destroy()); // accepts, then hangs up at once
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const storage = createPostgresStorage({ connectionString: `postgres://root@127.0.0.1:${port}/test`, schema: 'dpopkit' });
    await expect(storage.migrate()).rejects.toThrow();
    await expect(storage.getClient('x')).rejects.toThrow();
    await storage.close();
    server.close();
  });
});

describe('PostgreSQL storage: a hung database', () => {
  it('a server that stops answering makes calls reject after the query timeout instead of hanging', async () => {
    const proxy = await createTcpProxy(5432);
    const storage = createPostgresStorage({ connectionString: `postgres://root@127.0.0.1:${proxy.port}/test`, schema: freshSchema(), queryTimeoutMs: 300 });
    await storage.migrate();
    expect(await storage.getClient('nobody')).toBeUndefined();
    proxy.stall(true);
    const start = performance.now();
    await expect(storage.getClient('nobody')).rejects.toThrow(/timeout/i);
    const ms = performance.now() - start;
    expect(ms).toBeGreaterThanOrEqual(1000); // client-side: query timeout + 1 s
    expect(ms).toBeLessThan(3000);
    await storage.close().catch(() => {});
    await proxy.close();
  });
});

describe('PostgreSQL replay cache (RFC 9449 §11.1)', () => {
  it('an unreachable database fails closed: replay_cache_unavailable, 503', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const cache = createPostgresReplayCache({ connectionString: `postgres://root@127.0.0.1:${port}/test` });
    await expect(cache.reserve('jkt:jti', Date.now() / 1000 + 60)).rejects.toMatchObject({ reason: 'replay_cache_unavailable', status: 503 });
    await cache.close();
    server.close();
  });

  it('shares one table with the storage schema, and expired rows are swept', async () => {
    const schema = freshSchema();
    const storage = createPostgresStorage({ connectionString: PG_URL, schema });
    await storage.migrate(); // creates replay_cache too
    const now = Math.floor(Date.now() / 1000);
    const cache = createPostgresReplayCache({ connectionString: PG_URL, schema, clock: () => now });
    expect(await cache.reserve('jkt:old', now - 100)).toBe(true); // lives 1 s
    // A new instance, two seconds later by its clock, sweeps on its first reserve.
    const other = createPostgresReplayCache({ connectionString: PG_URL, schema, clock: () => now + 2 });
    expect(await other.reserve('jkt:new', now + 300)).toBe(true);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    let count = -1;
    for (let i = 0; i < 20 && count !== 1; i++) {
      count = Number((await c.query(`SELECT count(*) AS n FROM "${schema}".replay_cache`)).rows[0].n);
      if (count !== 1) await new Promise((r) => setTimeout(r, 50));
    }
    await c.end();
    expect(count).toBe(1);
    await Promise.all([cache.close(), other.close(), storage.close()]);
  });
});
