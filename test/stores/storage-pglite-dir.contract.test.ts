import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { storageContract } from '../contracts/storage.js';

storageContract('PGlite with a data directory', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'dpopkit-pglite-'));
  return {
    open: async () => createPGliteStorage({ dataDir }),
    persistent: true,
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
});
