import pg from 'pg';
import { createPostgresStorage } from '../../src/stores/postgres.js';
import { storageContract } from '../contracts/storage.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

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
