import { createMemoryReplayCache } from '../../src/stores/memory.js';
import { createRedisReplayCache } from '../../src/stores/redis.js';
import { replayCacheContract } from '../contracts/replay-cache.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';

replayCacheContract('memory', async () => ({ cache: createMemoryReplayCache(), cleanup: async () => {} }));

replayCacheContract('Redis', async () => {
  const keyPrefix = uniquePrefix();
  const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix });
  return { cache, cleanup: () => dropPrefix(keyPrefix).then(() => cache.close()) };
});

replayCacheContract('Redis with per-key Cluster hash tags', async () => {
  const keyPrefix = uniquePrefix();
  const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix, hashTag: true });
  return { cache, cleanup: () => dropPrefix(keyPrefix).then(() => cache.close()) };
});

replayCacheContract('Redis, one SET NX per proof (batch: false)', async () => {
  const keyPrefix = uniquePrefix();
  const cache = createRedisReplayCache({ url: REDIS_URL, keyPrefix, batch: false });
  return { cache, cleanup: () => dropPrefix(keyPrefix).then(() => cache.close()) };
});
