import { createPGliteStorage } from '../../src/stores/postgres.js';
import { storageContract } from '../contracts/storage.js';

storageContract('PGlite in memory', async () => ({
  open: async () => createPGliteStorage(),
  persistent: false,
  cleanup: async () => {},
}));
