// Redis replay cache benchmark: a verifier's verify throughput with the Redis replay
// cache divided by the same with the in-memory one. ES256 proofs, distinct jti, 64 verifications
// in flight so Redis round trips overlap (the cache sends the SETs of one tick as one script call).
// Also printed: this process's CPU time per proof, steadier than throughput on a shared machine.
// Rounds alternate memory/Redis; the ratio is the median of per-round ratios. Target ≥ 0.9.
import { performance as perf } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { createProofSigner, createProofVerifier, generateKeyPair } from '../../dist/index.js';
import { createMemoryReplayCache } from '../../dist/stores/memory.js';
import { createRedisReplayCache } from '../../dist/stores/redis.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 400);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const URL = 'https://api.example.com/resource';
const runId = `dpopkit:bench:${process.pid}:${Date.now()}`;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// Is Redis there at all? (A missing Redis is a skipped suite, not a failed benchmark.)
const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
probe.on('error', () => {});
try {
  await probe.connect();
  await probe.ping();
} catch {
  console.log(`Redis not reachable at ${REDIS_URL}: suite skipped`);
  process.exit(0);
}

const keyPair = await generateKeyPair('ES256');
const PROOFS = 40_000;
const proofs = [];
const signer = createProofSigner();
const verifier = createProofVerifier(); // a server's verifier, as the resource server holds one
for (let i = 0; i < PROOFS; i++) proofs.push(await signer.sign(keyPair, { htm: 'GET', htu: URL }));

/** Verifications per second with `replayCache`, IN_FLIGHT at a time, over about ROUND_MS. */
async function rate(replayCache, cpu, busy) {
  let next = 0;
  let done = 0;
  const cpuStart = process.cpuUsage();
  const eluStart = perf.eventLoopUtilization();
  const start = performance.now();
  const deadline = start + ROUND_MS;
  const lane = async () => {
    while (performance.now() < deadline && next < PROOFS) {
      await verifier.verify(proofs[next++], { method: 'GET', url: URL, replayCache, maxAge: 3600 });
      done++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  if (next >= PROOFS) throw new Error('ran out of proofs: raise PROOFS');
  const used = process.cpuUsage(cpuStart);
  cpu?.push((used.user + used.system) / done);
  busy?.push(perf.eventLoopUtilization(eluStart).utilization);
  return (done * 1000) / (performance.now() - start);
}

// BENCH_REDIS_BATCH=0 measures the unbatched path (one auto-pipelined SET NX per proof).
const BATCH = process.env.BENCH_REDIS_BATCH !== '0';
const redisCache = (round) => createRedisReplayCache({ url: REDIS_URL, keyPrefix: `${runId}:${round}:`, batch: BATCH });
// Warm up both paths (JIT, connection).
const warm = redisCache('warm');
await rate(createMemoryReplayCache());
await rate(warm);
await warm.close();

const memRates = [], redisRates = [], ratios = [], memCpu = [], redisCpu = [], memBusy = [], redisBusy = [];
for (let r = 0; r < ROUNDS; r++) {
  // Fresh caches each round: every proof is new again to both (distinct jti within a round).
  const cache = redisCache(r);
  await cache.reserve('connected', Date.now() / 1000 + 60); // connection up before timing
  // Alternate which goes first (ABBA), so a load change on the shared machine hits both alike.
  let mem, red;
  if (r % 2 === 0) {
    mem = await rate(createMemoryReplayCache(), memCpu, memBusy);
    red = await rate(cache, redisCpu, redisBusy);
  } else {
    red = await rate(cache, redisCpu, redisBusy);
    mem = await rate(createMemoryReplayCache(), memCpu, memBusy);
  }
  await cache.close();
  memRates.push(mem); redisRates.push(red); ratios.push(red / mem);
  if (process.env.BENCH_VERBOSE) console.log(`round ${r}: memory ${Math.round(mem)}/s, Redis ${Math.round(red)}/s, ratio ${(red / mem).toFixed(2)}`);
}

// Clean up this run's keys.
let cursor = '0';
do {
  const [nextCursor, keys] = await probe.scan(cursor, 'MATCH', `${runId}:*`, 'COUNT', 5000);
  if (keys.length) await probe.unlink(...keys);
  cursor = nextCursor;
} while (cursor !== '0');
await probe.quit();

const ratio = median(ratios);
console.log(`verifier.verify ES256, distinct jti, ${IN_FLIGHT} in flight; medians of ${ROUNDS} rounds of ${ROUND_MS} ms`);
console.table([
  { replayCache: 'memory', 'verify/s': Math.round(median(memRates)), 'Node CPU µs/proof': median(memCpu).toFixed(1), 'event loop busy': median(memBusy).toFixed(2) },
  { replayCache: BATCH ? 'Redis (SET PX NX per key, batched per tick)' : 'Redis (one SET PX NX per proof)', 'verify/s': Math.round(median(redisRates)), 'Node CPU µs/proof': median(redisCpu).toFixed(1), 'event loop busy': median(redisBusy).toFixed(2) },
]);
const cpuRatio = median(memCpu) / median(redisCpu);
console.log(`Redis ÷ memory ${ratio.toFixed(2)} (target ≥ 0.9: ${ratio >= 0.9 ? 'PASS' : 'MISS'}); by this process's CPU per proof ${cpuRatio.toFixed(2)} (Redis server shares the machine's cores)`);
