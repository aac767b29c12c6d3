// `npm run soak -- --minutes N [--load F]` (not part of `npm test`): a 2-worker `dpopkit serve`
// on PostgreSQL + Redis under steady load at F (default 0.8) of a maximum measured first, for N
// minutes (default 2).
// - The maximum: 5 s flat out through autocannon (closed loop).
// - The soak: requests at evenly spaced moments (an open loop, scripts/soak/paced-load.mjs):
//   DPoP-protected API calls, each with its own fresh ES256 proof made by a signer thread while
//   the soak runs (scripts/soak/proof-signer.mjs), and one token request in eleven.
// - The floor: the same generator at the same rate for 30 s against a server that checks
//   nothing (scripts/soak/floor-server.mjs): what this host gives any server.
// Prints errors, p50/p99 latency as the generator saw it and as the server timed it (from its
// /metrics histograms), the floor's, and the fleet's RSS (primary + workers) every minute; writes
// them to test-output/soak.json. Needs `npm run build` first.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoConfigOn, freePort } from './demo-config.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const PG_URL = process.env.SOAK_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const REDIS_URL = process.env.SOAK_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const args = process.argv.slice(2);
const minutes = Number(args[args.indexOf('--minutes') + 1] ?? 2) || 2;
const load = args.includes('--load') ? Number(args[args.indexOf('--load') + 1]) : 0.8; // share of the maximum
const WORKERS = 2;
const CONNECTIONS = 16;
const SECRET = 'demo-service-secret-change-me';
const tag = `soak_${process.pid}`;

const { default: autocannon } = await import('autocannon');
const { pacedLoad } = await import('./soak/paced-load.mjs');

/** The cumulative buckets of one histogram series in a /metrics text: [[le, count], …]. */
function buckets(text, series, labels = '') {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${series}_bucket{`) || (labels && !line.includes(labels))) continue;
    const m = /le="([^"]+)"[^}]*\} (\d+)$/.exec(line);
    if (m) out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return out;
}

/** One scrape of the fleet's /metrics: the two latency histograms the soak reads. */
async function latencyBuckets() {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  return { api: buckets(text, 'dpopkit_rs_request_seconds'), token: buckets(text, 'dpopkit_as_request_seconds', 'endpoint="token"') };
}

/**
 * Quantiles of what the server itself timed (handler entered → response), from the difference of
 * two scrapes, interpolated within a bucket as Prometheus's histogram_quantile does. Set beside
 * the generator's figures, it tells how much of the tail is the server's work.
 */
function serverQuantiles(before, after) {
  const counts = after.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)]);
  const total = counts.at(-1)?.[1] ?? 0;
  const q = (p) => {
    const rank = p * total;
    let lower = 0;
    let below = 0;
    for (const [le, n] of counts) {
      if (n >= rank) return le === Infinity ? lower * 1000 : Math.round((lower + ((le - lower) * (rank - below)) / Math.max(1, n - below)) * 1e5) / 100;
      [lower, below] = [le, n];
    }
    return NaN;
  };
  const within = Object.fromEntries(counts.filter(([le]) => le <= 0.025).map(([le, n]) => [`${le * 1000}ms`, Math.round((n / total) * 10000) / 100]));
  return { requests: total, p50: q(0.5), p99: q(0.99), percentWithin: within };
}

/** A process and its children (the primary and the cluster's workers). */
const fleetPids = (pid) => [pid, ...execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number)];

/** CPU seconds (user + system) used so far by a process and its children. */
function cpuSeconds(pid) {
  const pids = fleetPids(pid);
  let ticks = 0;
  for (const p of pids) {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (14th, 15th)
  }
  return ticks / 100; // USER_HZ
}

/** RSS in MB of a process and its children. */
function rssMb(pid) {
  const pids = fleetPids(pid);
  let kb = 0;
  for (const p of pids) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    if (m) kb += Number(m[1]);
  }
  return { processes: pids.length, mb: Math.round(kb / 102.4) / 10 };
}

const dir = mkdtempSync(join(tmpdir(), 'dpopkit-soak-'));
const [as, api, admin] = [await freePort(), await freePort(), await freePort()];
const config = demoConfigOn({ as, api });
const a = config.authorizationServer;
a.clients = a.clients.filter((c) => c.clientId === 'demo-service').map((c) => ({ ...c, dpopBoundAccessTokens: true }));
a.users = a.users.filter((u) => u.username === 'alice');
a.storage = { type: 'postgres', url: PG_URL, schema: tag };
a.replayCache = { type: 'redis', url: REDIS_URL, keyPrefix: `dpopkit:${tag}:` };
a.throttle = { enabled: false };
a.dpop = { ...a.dpop, replayQuota: { perClient: 10_000_000, perKey: 10_000_000 } };
config.api.dpop = { nonce: false, ...(process.env.SOAK_THREADPOOL === 'off' ? { threadpool: false } : {}) };
if (process.env.SOAK_THREADPOOL === 'off') a.dpop.threadpool = false;
delete config.demo;
config.admin = { port: admin }; // the server's own latency histograms (below)
config.log = { level: 'error', format: 'json' };
const file = join(dir, 'soak.json');
writeFileSync(file, JSON.stringify(config));

const child = spawn(process.execPath, [...(process.env.SOAK_SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean), CLI, 'serve', '--config', file, '--workers', String(WORKERS)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
child.stdout.on('data', (d) => (out += d));
child.stderr.on('data', (d) => (out += d));
const deadline = Date.now() + 120_000;
while (!out.includes('Press Ctrl+C to stop.')) {
  if (child.exitCode !== null || Date.now() > deadline) throw new Error(`dpopkit serve did not start:\n${out}`);
  await new Promise((r) => setTimeout(r, 200));
}

const token = `http://localhost:${as}/token`;
const apiUrl = `http://localhost:${api}/api/hello`;
const auth = `Basic ${Buffer.from(`demo-service:${SECRET}`).toString('base64')}`;
const tokenBody = 'grant_type=client_credentials&scope=api:read';

// Proof pools kept full by the signer thread while the load runs (first in, first out: proofs
// stay seconds old, never minutes).
const pools = { api: [], token: [] };
let target = 6000;
const signer = new Worker(new URL('./soak/proof-signer.mjs', import.meta.url), {
  workerData: { dist: new URL('../dist/index.js', import.meta.url).href, tokenUrl: token, apiUrl, authorization: auth, tokenBody },
});
let asking = false;
const topUp = () => {
  const wanted = { api: Math.min(500, target - pools.api.length), token: Math.min(50, Math.ceil(target / 10) - pools.token.length) };
  if (asking || (wanted.api <= 0 && wanted.token <= 0)) return;
  asking = true;
  signer.postMessage({ api: Math.max(0, wanted.api), token: Math.max(0, wanted.token) });
};
const signerReady = new Promise((resolve, reject) => {
  signer.once('error', reject);
  signer.on('message', (m) => {
    if (m.error) return console.error(m.error);
    if (m.ready) return resolve();
    pools.api.push(...m.api);
    pools.token.push(...m.token);
    asking = false;
    topUp();
  });
});
await signerReady;
const topping = setInterval(topUp, 20);
const filled = async (n) => { while (pools.api.length < n) await new Promise((r) => setTimeout(r, 50)); };

let dropped = 0;
const take = (pool) => {
  const entry = pools[pool].shift(); // oldest first
  if (!entry) dropped++;
  return { dpop: entry?.proof ?? 'exhausted', ...(entry?.accessToken ? { authorization: `DPoP ${entry.accessToken}` } : {}) };
};
const tokenHeaders = { 'content-type': 'application/x-www-form-urlencoded', authorization: auth };

// 1. The maximum: 5 s flat out through autocannon (closed loop, 16 + 2 connections), the mix
//    going through one URL per autocannon run, so two runs: API (10 in 11) and token (1 in 11).
await filled(target);
const [maxApi, maxToken] = await Promise.all([
  autocannon({ url: apiUrl, connections: CONNECTIONS, duration: 5, requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, headers: { ...take('api'), host: `localhost:${api}` } }) }] }),
  autocannon({ url: token, connections: 2, duration: 5, requests: [{ method: 'POST', body: tokenBody, setupRequest: (req) => ({ ...req, headers: { ...tokenHeaders, ...take('token'), host: `localhost:${as}` } }) }] }),
]);
const maxTotal = (maxApi.requests.total + maxToken.requests.total) / 5;
const maxErrors = maxApi.errors + maxApi.non2xx + maxToken.errors + maxToken.non2xx;
const rate = Math.floor(maxTotal * load);

// 2. The soak: `rate` requests per second, evenly spaced (scripts/soak/paced-load.mjs), one
//    token request in every eleven.
target = Math.max(2000, Math.ceil(rate * 3));
await filled(target / 2);
const rssStart = rssMb(child.pid);
console.log(`maximum ${Math.round(maxTotal)} req/s (API + token, ${WORKERS} workers${maxErrors ? `, ${maxErrors} errors` : ''}); soaking ${minutes} min at ${rate} req/s, evenly spaced; RSS at start ${rssStart.mb} MB (${rssStart.processes} processes)`);
dropped = 0;
// RSS once a minute: growth that levels off (heap and allocator arenas reaching their working
// size) reads differently from growth that keeps going (a leak).
const rssSeries = [rssStart.mb];
const cpuStart = cpuSeconds(child.pid);
const serverBefore = await latencyBuckets();
const sampler = setInterval(() => rssSeries.push(rssMb(child.pid).mb), 60_000);
const soak = await pacedLoad({
  rate,
  seconds: minutes * 60,
  next: (i) =>
    i % 11 === 10
      ? { kind: 'token', port: as, method: 'POST', path: '/token', headers: { ...tokenHeaders, ...take('token'), host: `localhost:${as}` }, body: tokenBody }
      : { kind: 'api', port: api, method: 'GET', path: '/api/hello', headers: { ...take('api'), host: `localhost:${api}` } },
});
clearInterval(sampler);
const cpuPerRequestUs = Math.round(((cpuSeconds(child.pid) - cpuStart) / (soak.kinds.api.requests + soak.kinds.token.requests)) * 1e6);
const serverAfter = await latencyBuckets();
const serverTimed = {
  api: serverQuantiles(serverBefore.api, serverAfter.api),
  token: serverQuantiles(serverBefore.token, serverAfter.token),
};
const rssEnd = rssMb(child.pid);
rssSeries.push(rssEnd.mb);

// 3. The floor: the same generator at the same rate for 30 s against a server that checks
//    nothing but spends the fleet's CPU time per request in one synchronous stretch
//    (scripts/soak/floor-server.mjs), with headers of the same size.
const floorPort = await freePort();
const floorServer = spawn(process.execPath, [join(ROOT, 'scripts/soak/floor-server.mjs'), String(floorPort), String(cpuPerRequestUs)], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve) => floorServer.stdout.on('data', (d) => String(d).includes('listening') && resolve()));
const sample = { ...take('api'), host: `localhost:${floorPort}` };
const floor = await pacedLoad({ rate, seconds: 30, next: () => ({ kind: 'floor', port: floorPort, method: 'GET', path: '/api/hello', headers: sample }) });
floorServer.kill('SIGTERM');
clearInterval(topping);
signer.postMessage('stop');

const errors = soak.kinds.api.errors + soak.kinds.token.errors;
const result = {
  date: new Date().toISOString(),
  minutes,
  workers: WORKERS,
  storage: 'postgres',
  replayCache: 'redis',
  mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null,
  maxRequestsPerSecond: Math.round(maxTotal),
  targetRequestsPerSecond: rate,
  achievedRequestsPerSecond: soak.requestsPerSecond,
  generatorBehindMs: soak.generatorBehindMs,
  requests: soak.kinds.api.requests + soak.kinds.token.requests,
  errors,
  proofsRunOut: dropped,
  api: soak.kinds.api,
  token: soak.kinds.token,
  serverTimedMs: serverTimed,
  fleetCpuPerRequestUs: cpuPerRequestUs,
  floor: { seconds: 30, spinUs: cpuPerRequestUs, requestsPerSecond: floor.requestsPerSecond, errors: floor.kinds.floor.errors, latencyMs: floor.kinds.floor.latencyMs },
  rssMb: { start: rssStart.mb, end: rssEnd.mb, everyMinute: rssSeries, growthPercent: Math.round(((rssEnd.mb - rssStart.mb) / rssStart.mb) * 1000) / 10 },
  note: 'shared 2-core machine: the load generator and the proof-signing thread run on it too',
};
const line = (name, l) => `${name} p50 ${l.p50} ms, p99 ${l.p99} ms (${Math.round((l.p99 / l.p50) * 10) / 10}×)`;
console.log(JSON.stringify(result, null, 2));
console.log([
  `${result.requests} requests at ${result.achievedRequestsPerSecond} req/s, ${errors} errors, ${dropped} without a proof`,
  line('API (generator)', soak.kinds.api.latencyMs.service),
  line('API (server-timed)', serverTimed.api),
  line('token (generator)', soak.kinds.token.latencyMs.service),
  line('token (server-timed)', serverTimed.token),
  line(`floor, ${cpuPerRequestUs} µs of CPU per request (generator)`, floor.kinds.floor.latencyMs.service),
  `RSS ${rssStart.mb} → ${rssEnd.mb} MB (${result.rssMb.growthPercent} %), every minute: ${rssSeries.join(', ')}`,
].join('\n'));
mkdirSync(join(ROOT, 'test-output'), { recursive: true });
writeFileSync(join(ROOT, 'test-output', 'soak.json'), `${JSON.stringify(result, null, 2)}\n`);

const exited = new Promise((r) => child.once('exit', r));
child.kill('SIGTERM');
const code = await exited;
const { default: pg } = await import('pg');
const db = new pg.Client({ connectionString: PG_URL });
await db.connect();
for (const s of [tag, `${tag}_api`]) await db.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
await db.end();
rmSync(dir, { recursive: true, force: true });
process.exit(errors === 0 && code === 0 ? 0 : 1);
