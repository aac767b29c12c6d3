import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createPGliteStorage, createPostgresStorage } from '../../src/stores/postgres.js';
import { storageContract } from '../contracts/storage.js';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

storageContract('PGlite in memory', async () => ({
  open: async () => createPGliteStorage(),
  persistent: false,
  cleanup: async () => {},
}));

storageContract('PGlite with a data directory', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'dpopkit-pglite-'));
  return {
    open: async () => createPGliteStorage({ dataDir }),
    persistent: true,
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
});

storageContract('PostgreSQL', async () => {
  const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
  return {
    open: async () => createPostgresStorage({ connectionString: PG_URL, schema }),
    persistent: true,
    cleanup: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
});
