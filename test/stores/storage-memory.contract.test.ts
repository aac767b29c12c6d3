import { createMemoryStorage } from '../../src/stores/memory.js';
import type { Storage } from '../../src/authorization-server/storage.js';
import { attemptStoreContract } from '../contracts/attempt-store.js';
import { storageContract } from '../contracts/storage.js';

storageContract('memory', async () => ({
  open: async () => createMemoryStorage(),
  persistent: false,
  cleanup: async () => {},
}));

attemptStoreContract("memory storage (the storage's attempts)", async () => {
  const storage: Storage = createMemoryStorage();
  await storage.migrate();
  return { open: async () => storage.attempts!, shared: true, cleanup: () => storage.close() };
});
