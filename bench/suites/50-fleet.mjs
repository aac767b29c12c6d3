// Fleet benchmark: `dpopkit serve` with 1 and with 2 workers (--workers, node:cluster) on
// PostgreSQL + Redis, measured through real HTTP with autocannon from this process: DPoP
// client_credentials tokens per second at the token endpoint, and DPoP-protected API calls per
// second at the demo API (every request with its own pre-generated ES256 proof; API nonces off
// so each call is one round trip). Rounds alternate 1 and 2 workers; figures are medians, the
// ratio is the median of per-round ratios. On a 2-core machine the load generator takes a core
// of its own, so 2 workers cannot double anything: the figure says what a second core buys.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoConfigOn, freePort } from '../../scripts/demo-config.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const SECRET = 'demo-service-secret-change-me';

const { default: autocannon } = await import('autocannon');
const { createProof, generateKeyPair } = await import('../../dist/index.js');
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const dir = mkdtempSync(join(tmpdir(), 'dpopkit-bench-fleet-'));
const tag = `${process.pid}`;

async function startFleet(workers) {
  const [as, api] = [await freePort(), await freePort()];
  const config = demoConfigOn({ as, api });
  const a = config.authorizationServer;
  a.clients = a.clients.filter((c) => c.clientId === 'demo-service');
  a.clients[0].dpopBoundAccessTokens = true;
  a.users = a.users.filter((u) => u.username === 'alice');
  a.storage = { type: 'postgres', url: PG_URL, schema: `bench_fleet_${tag}_${workers}` };
  a.replayCache = { type: 'redis', url: REDIS_URL, keyPrefix: `dpopkit:bench-fleet:${tag}:${workers}:` };
  a.throttle = { enabled: false };
  // One client sends every proof here: lift the per-client cap on live replay entries.
  a.dpop = { ...a.dpop, replayQuota: { perClient: 10_000_000, perKey: 10_000_000 } };
  config.api.dpop = { nonce: false };
  config.api.corsOrigins = [];
  a.corsOrigins = [];
  delete config.demo;
  delete config.admin;
  config.log = { level: 'error', format: 'json' };
  const file = join(dir, `fleet-${workers}.json`);
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file, '--workers', String(workers)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 120_000;
  while (!out.includes('Press Ctrl+C to stop.')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`fleet of ${workers} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { workers, child, token: `http://localhost:${as}/token`, api: `http://localhost:${api}/api/hello`, tokenProofs: [], apiProofs: [] };
}

const keyPair = await generateKeyPair('ES256');
const auth = `Basic ${Buffer.from(`demo-service:${SECRET}`).toString('base64')}`;

async function accessToken(f) {
  const res = await fetch(f.token, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth, dpop: await createProof(keyPair, { htm: 'POST', htu: f.token }) }, body: 'grant_type=client_credentials&scope=api:read' });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return (await res.json()).access_token;
}

async function rate(url, pool, request, seconds) {
  let ranOut = false;
  let refused;
  const result = await autocannon({
    url, connections: CONNECTIONS, duration: seconds,
    requests: [{
      ...request,
      setupRequest: (req) => { const proof = pool.pop(); if (!proof) ranOut = true; return { ...req, headers: { ...req.headers, dpop: proof ?? 'exhausted' } }; },
      onResponse: (status, body, _context, headers) => { if (status >= 300 && refused === undefined) refused = `${status} ${JSON.stringify(headers)} ${body}`; },
    }],
  });
  // First: requests sent with no proof were the bench's fault, not the server's.
  if (ranOut) throw new Error(`${url}: ran out of proofs (the pools are sized from the fastest round so far)`);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors (${JSON.stringify(result.statusCodeStats)}); first refusal: ${refused}`);
  return result.requests.total / seconds;
}

const fleets = [];
try {
  for (const n of [1, 2]) fleets.push(await startFleet(n));
  for (const f of fleets) f.accessToken = await accessToken(f);
  const fill = async (f, n) => {
    while (f.tokenProofs.length < n) f.tokenProofs.push(await createProof(keyPair, { htm: 'POST', htu: f.token }));
    while (f.apiProofs.length < n) f.apiProofs.push(await createProof(keyPair, { htm: 'GET', htu: f.api, accessToken: f.accessToken }));
  };
  const tokenRequest = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, body: 'grant_type=client_credentials&scope=api:read' };
  const apiRequest = (f) => ({ method: 'GET', headers: { authorization: `DPoP ${f.accessToken}` } });
  let need = 25_000; // a warm-up second of the API on two workers reaches about 10,000 calls
  const rates = fleets.map(() => ({ token: [], api: [] }));
  for (let r = -1; r < ROUNDS; r++) {
    for (const [i, f] of fleets.entries()) {
      await fill(f, need);
      const t = await rate(f.token, f.tokenProofs, tokenRequest, r < 0 ? 1 : ROUND_S);
      const a = await rate(f.api, f.apiProofs, apiRequest(f), r < 0 ? 1 : ROUND_S);
      need = Math.max(need, Math.ceil(Math.max(t, a) * ROUND_S * 2.5) + CONNECTIONS);
      if (r >= 0) { rates[i].token.push(t); rates[i].api.push(a); }
    }
    if (process.env.BENCH_VERBOSE && r >= 0) console.log(`round ${r}: ${fleets.map((f, i) => `${f.workers}w token ${Math.round(rates[i].token[r])}/s api ${Math.round(rates[i].api[r])}/s`).join(', ')}`);
  }
  const ratio = (kind) => median(rates[1][kind].map((v, r) => v / rates[0][kind][r]));
  console.log(`dpopkit serve on PostgreSQL + Redis, 1 vs 2 workers (autocannon, ${CONNECTIONS} connections, ES256 DPoP); medians of ${ROUNDS} rounds of ${ROUND_S} s`);
  console.table(fleets.map((f, i) => ({ workers: f.workers, 'tokens/s': Math.round(median(rates[i].token)), 'API calls/s': Math.round(median(rates[i].api)) })));
  console.log(`2 workers ÷ 1 worker: token endpoint ${ratio('token').toFixed(2)}x, API ${ratio('api').toFixed(2)}x`);
} finally {
  for (const f of fleets) {
    const exited = new Promise((r) => f.child.once('exit', r));
    f.child.kill('SIGTERM');
    await exited;
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const n of [1, 2]) for (const s of [`bench_fleet_${tag}_${n}`, `bench_fleet_${tag}_${n}_api`]) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
  rmSync(dir, { recursive: true, force: true });
}
