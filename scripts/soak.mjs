// `npm run soak -- --minutes N` (not part of `npm test`): a 2-worker `dpopkit serve` on
// PostgreSQL + Redis under steady load at 80 % of a maximum measured first, for N minutes
// (default 2). The load is DPoP-protected API calls (each with its own fresh ES256 proof, made
// while the soak runs so none is older than a few seconds) plus a token request for every ten.
// Prints errors, p50/p99 latency and the fleet's RSS (primary + workers) at the start and the
// end, and writes them to test-output/soak.json. Needs `npm run build` first.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const PG_URL = process.env.SOAK_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const REDIS_URL = process.env.SOAK_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const args = process.argv.slice(2);
const minutes = Number(args[args.indexOf('--minutes') + 1] ?? 2) || 2;
const WORKERS = 2;
const CONNECTIONS = 16;
const SECRET = 'demo-service-secret-change-me';
const tag = `soak_${process.pid}`;

const { default: autocannon } = await import('autocannon');
const { createProof, generateKeyPair } = await import('../dist/index.js');
const freePort = () => new Promise((ok) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); }); });

/** RSS in MB of a process and its children (the cluster's workers). */
function rssMb(pid) {
  const pids = [pid, ...execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number)].filter((p) => p);
  let kb = 0;
  for (const p of pids) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    if (m) kb += Number(m[1]);
  }
  return { processes: pids.length, mb: Math.round(kb / 102.4) / 10 };
}

const dir = mkdtempSync(join(tmpdir(), 'dpopkit-soak-'));
const [as, api] = [await freePort(), await freePort()];
const config = JSON.parse(readFileSync(join(ROOT, 'examples/demo.config.json'), 'utf8').replaceAll('localhost:4000', `localhost:${as}`).replaceAll('localhost:4001', `localhost:${api}`));
const a = config.authorizationServer;
a.clients = a.clients.filter((c) => c.clientId === 'demo-service').map((c) => ({ ...c, dpopBoundAccessTokens: true }));
a.users = a.users.filter((u) => u.username === 'alice');
a.storage = { type: 'postgres', url: PG_URL, schema: tag };
a.replayCache = { type: 'redis', url: REDIS_URL, keyPrefix: `dpopkit:${tag}:` };
a.throttle = { enabled: false };
a.dpop = { ...a.dpop, replayQuota: { perClient: 10_000_000, perKey: 10_000_000 } };
config.api.dpop = { nonce: false };
delete config.demo;
delete config.admin;
config.log = { level: 'error', format: 'json' };
const file = join(dir, 'soak.json');
writeFileSync(file, JSON.stringify(config));

const child = spawn(process.execPath, [CLI, 'serve', '--config', file, '--workers', String(WORKERS)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
const keyPair = await generateKeyPair('ES256');
const auth = `Basic ${Buffer.from(`demo-service:${SECRET}`).toString('base64')}`;
const tokenBody = 'grant_type=client_credentials&scope=api:read';
/** A fresh access token (and its lifetime, seconds). */
async function issue() {
  const issued = await fetch(token, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth, dpop: await createProof(keyPair, { htm: 'POST', htu: token }) }, body: tokenBody });
  if (issued.status !== 200) throw new Error(`token: ${issued.status} ${await issued.text()}`);
  const body = await issued.json();
  return { accessToken: body.access_token, expiresIn: body.expires_in };
}
// The client renews its access token at half its lifetime, as a real one does; each API proof
// carries the `ath` of the token it is sent with.
let { accessToken, expiresIn } = await issue();
const renewal = setInterval(() => {
  issue().then((t) => { accessToken = t.accessToken; }, (err) => console.error(`token renewal failed: ${err.message}`));
}, (expiresIn * 1000) / 2);

// Proof pools kept full while the load runs (proofs stay seconds old, never minutes).
const pools = { api: [], token: [] };
let filling = true;
let target = 4000;
const refill = (async () => {
  while (filling) {
    if (pools.api.length < target) {
      const current = accessToken;
      pools.api.push({ proof: await createProof(keyPair, { htm: 'GET', htu: apiUrl, accessToken: current }), accessToken: current });
    } else if (pools.token.length < target / 10) pools.token.push({ proof: await createProof(keyPair, { htm: 'POST', htu: token }) });
    else await new Promise((r) => setTimeout(r, 20));
  }
})();
while (pools.api.length < target) await new Promise((r) => setTimeout(r, 50));

let dropped = 0;
const requests = [
  ...Array.from({ length: 10 }, () => ({ method: 'GET', headers: {}, path: '/api/hello', pool: 'api' })),
  { method: 'POST', path: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, body: tokenBody, pool: 'token' },
].map(({ pool, path, ...request }) => ({
  ...request,
  setupRequest: (req) => {
    const entry = pools[pool].shift(); // oldest first: a proof never waits in the pool for minutes
    if (!entry) dropped++;
    const credentials = entry?.accessToken ? { authorization: `DPoP ${entry.accessToken}` } : {};
    // autocannon's url is the API; token requests go to the authorization server's port.
    return { ...req, path, headers: { ...req.headers, ...credentials, dpop: entry?.proof ?? 'exhausted', host: `localhost:${pool === 'api' ? api : as}` } };
  },
}));

// The mix goes through one URL per autocannon run, so run two: API (10 in 11) and token (1 in 11).
async function load(seconds, rate) {
  const apiRate = rate === undefined ? undefined : Math.max(1, Math.round((rate * 10) / 11));
  const tokenRate = rate === undefined ? undefined : Math.max(1, Math.round(rate / 11));
  const [r1, r2] = await Promise.all([
    autocannon({ url: apiUrl, connections: CONNECTIONS, duration: seconds, ...(apiRate ? { overallRate: apiRate } : {}), requests: [requests[0]] }),
    autocannon({ url: token, connections: Math.max(2, CONNECTIONS / 8), duration: seconds, ...(tokenRate ? { overallRate: tokenRate } : {}), requests: [requests[10]] }),
  ]);
  return { api: r1, token: r2, total: (r1.requests.total + r2.requests.total) / seconds };
}

// 1. The maximum (5 s flat out), then 80 % of it.
target = 6000;
while (pools.api.length < target) await new Promise((r) => setTimeout(r, 50));
const max = await load(5);
const rate = Math.floor(max.total * 0.8);
target = Math.max(2000, Math.ceil(rate * 4));
while (pools.api.length < target / 2) await new Promise((r) => setTimeout(r, 50));
const rssStart = rssMb(child.pid);
console.log(`maximum ${Math.round(max.total)} req/s (API + token, ${WORKERS} workers); soaking ${minutes} min at ${rate} req/s; RSS at start ${rssStart.mb} MB (${rssStart.processes} processes)`);
dropped = 0;
// RSS once a minute: growth that levels off (heap and allocator arenas reaching their working
// size) reads differently from growth that keeps going (a leak).
const rssSeries = [rssStart.mb];
const sampler = setInterval(() => rssSeries.push(rssMb(child.pid).mb), 60_000);
const soak = await load(minutes * 60, rate);
clearInterval(sampler);
const rssEnd = rssMb(child.pid);
rssSeries.push(rssEnd.mb);
filling = false;
clearInterval(renewal);
await refill;

const errors = soak.api.errors + soak.token.errors + soak.api.non2xx + soak.token.non2xx;
const result = {
  date: new Date().toISOString(),
  minutes,
  workers: WORKERS,
  storage: 'postgres',
  replayCache: 'redis',
  maxRequestsPerSecond: Math.round(max.total),
  targetRequestsPerSecond: rate,
  achievedRequestsPerSecond: Math.round(soak.total),
  requests: soak.api.requests.total + soak.token.requests.total,
  errors,
  statusCodes: { api: soak.api.statusCodeStats, token: soak.token.statusCodeStats },
  proofsRunOut: dropped,
  latencyMs: {
    api: { p50: soak.api.latency.p50, p99: soak.api.latency.p99 },
    token: { p50: soak.token.latency.p50, p99: soak.token.latency.p99 },
  },
  rssMb: { start: rssStart.mb, end: rssEnd.mb, everyMinute: rssSeries, growthPercent: Math.round(((rssEnd.mb - rssStart.mb) / rssStart.mb) * 1000) / 10 },
  note: 'shared 2-core machine; the load generator (which also makes the proofs) runs on it too',
};
console.log(JSON.stringify(result, null, 2));
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
