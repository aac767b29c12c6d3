import pg from 'pg';
import type { Storage } from '../../src/authorization-server/storage.js';
import { createMemoryAttemptStore } from '../../src/stores/memory.js';
import { createPGliteStorage, createPostgresStorage } from '../../src/stores/postgres.js';
import { attemptStoreContract } from '../contracts/attempt-store.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

attemptStoreContract('memory', async () => {
  const store = createMemoryAttemptStore();
  return { open: async () => store, shared: true, cleanup: async () => {} };
});

attemptStoreContract('PGlite (the storage\'s attempts)', async () => {
  const storage = createPGliteStorage();
  await storage.migrate();
  return { open: async () => storage.attempts!, shared: true, cleanup: () => storage.close() };
});

attemptStoreContract('PostgreSQL (the storage\'s attempts, two connections pools)', async () => {
  const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
  const opened: Storage[] = [];
  return {
    async open() {
      const storage = createPostgresStorage({ connectionString: PG_URL, schema });
      await storage.migrate();
      opened.push(storage);
      return storage.attempts!;
    },
    shared: true,
    async cleanup() {
      for (const s of opened) await s.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
});
