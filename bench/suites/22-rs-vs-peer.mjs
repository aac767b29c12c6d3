// Resource server side by side (Express 5 on loopback, driven by autocannon): the same app
// protected by
//   dpopkit   — dpopExpress(createResourceServer(...)), DPoP required, in-memory replay cache;
//   peer      — auth0's express-oauth2-jwt-bearer 1.10, `dpop: { required: true }` (it keeps no
//               replay cache, so it does less than dpopkit: RFC 9449 §11.1 replay detection);
//   limit     — a middleware that does one raw crypto.verify of the proof per request and
//               nothing else (the access token's verification is taken as cached, as dpopkit's
//               default token cache does): the floor any DPoP check must pay;
//   open      — no middleware (the app alone).
// Same ES256 access token, a fresh ES256 proof per request (pre-generated pools; a pool is never
// reused across rounds), each variant in its own child process (so one's garbage never lands on
// another's clock), rounds alternate the order. Printed: per-round rates, the medians of the
// per-round ratios dpopkit ÷ peer and dpopkit ÷ limit, and the same ratios from server CPU time
// per request, which a shared machine disturbs less than wall-clock rates.
import * as crypto from 'node:crypto';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ISSUER = 'https://as.bench/';
const AUDIENCE = 'https://api.bench';
const variantArg = process.argv.indexOf('--variant');

if (variantArg !== -1) {
  // ---- one server process: the Express app with one variant's middleware ----
  const variant = process.argv[variantArg + 1];
  const { default: express } = await import('express');
  const jwk = JSON.parse(process.env.BENCH_JWK);
  const clientKey = crypto.createPublicKey({ key: JSON.parse(process.env.BENCH_CLIENT_JWK), format: 'jwk' });
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/jwks', (_req, res) => res.json({ keys: [jwk] }));
  let guard;
  const jwksUri = () => `http://127.0.0.1:${server.address().port}/jwks`;
  app.use('/api', (req, res, next) => guard(req, res, next));
  app.get('/api/items', (_req, res) => res.json({ ok: true }));
  const server = app.listen(0, '127.0.0.1', async () => {
    if (variant === 'dpopkit') {
      const { createResourceServer } = await import('../../dist/resource-server/index.js');
      const { dpopExpress } = await import('../../dist/resource-server/adapters/express.js');
      // The bench API is reached at 127.0.0.1, not at its audience's origin.
      guard = dpopExpress(createResourceServer({ issuer: ISSUER, audience: AUDIENCE, allowedHosts: ['127.0.0.1'], jwksUri: jwksUri(), bearer: 'reject', dpop: { maxAge: 3600 } }));
    } else if (variant === 'peer') {
      const { auth } = await import('express-oauth2-jwt-bearer');
      guard = auth({ issuer: ISSUER, audience: AUDIENCE, jwksUri: jwksUri(), tokenSigningAlg: 'ES256', dpop: { enabled: true, required: true, iatOffset: 3600, iatLeeway: 30 } });
    } else if (variant === 'limit') {
      guard = (req, res, next) => {
        const jws = req.headers.dpop;
        const dot = jws.lastIndexOf('.');
        const ok = crypto.verify('sha256', Buffer.from(jws.slice(0, dot), 'latin1'), { key: clientKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(jws.slice(dot + 1), 'base64url'));
        if (!ok) return res.status(401).end();
        next();
      };
    } else {
      guard = (_req, _res, next) => next();
    }
    server.keepAliveTimeout = 60_000;
    process.send({ port: server.address().port });
  });
  let cpu;
  process.on('disconnect', () => process.exit(0)); // the driver is gone: never linger
  process.on('message', (m) => {
    if (m.type === 'stop') return server.close(() => process.exit(0));
    if (m.type === 'cpu-start') { cpu = process.cpuUsage(); return; }
    if (m.type === 'cpu-stop') { const d = process.cpuUsage(cpu); process.send({ cpu: (d.user + d.system) / 1e6 }); }
  });
} else {
  // ---- driver process ----
  const { default: autocannon } = await import('autocannon');
  const { createProofSigner } = await import('../../dist/index.js');

  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
  const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
  const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

  const { boundToken } = await import('../support/bound-token.mjs');
  const { issuerJwk, client, clientJwk, token } = await boundToken({ issuer: ISSUER, audience: AUDIENCE });
  const env = { ...process.env, BENCH_JWK: JSON.stringify(issuerJwk), BENCH_CLIENT_JWK: JSON.stringify(clientJwk) };

  const variants = ['open', 'limit', 'dpopkit', 'peer'];
  const servers = {};
  for (const variant of variants) {
    const child = fork(fileURLToPath(import.meta.url), ['--variant', variant], {
      execArgv: process.env.BENCH_PROF && variant === process.env.BENCH_PROF_VARIANT ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [],
      env,
      stdio: 'inherit',
    });
    const ask = (message) => new Promise((resolve) => { child.once('message', resolve); if (message) child.send(message); });
    const { port } = await ask();
    servers[variant] = { child, ask, url: `http://127.0.0.1:${port}/api/items` };
  }

  const signer = createProofSigner();
  const pool = async (url, size) => {
    const proofs = new Array(size);
    for (let k = 0; k < size; k++) proofs[k] = await signer.sign(client, { htm: 'GET', htu: url, accessToken: token });
    return proofs;
  };

  /** One autocannon run against one variant: requests per second and server CPU s per request. */
  async function run(variant, proofs, duration) {
    const { ask, url } = servers[variant];
    let i = 0;
    const request = { method: 'GET', headers: { authorization: `DPoP ${token}` } };
    if (variant !== 'open') request.setupRequest = (req) => ({ ...req, headers: { ...req.headers, dpop: proofs[i++] } });
    servers[variant].child.send({ type: 'cpu-start' });
    const result = await autocannon({ url, connections: CONNECTIONS, duration, requests: [request] });
    const { cpu } = await ask({ type: 'cpu-stop' });
    if (proofs && i > proofs.length) throw new Error(`${variant}: proof pool too small (${proofs.length} for ${i} requests)`);
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${variant}: ${result.non2xx} refused, ${result.errors} errors`);
    return { rps: result.requests.total / duration, cpuPerRequest: cpu / result.requests.total };
  }

  // Warm up every variant (JWKS fetch, caches, JIT). The app without middleware bounds every
  // variant's rate, so its rate sizes the proof pools.
  let size = 9000;
  for (const v of variants) await run(v, await pool(servers[v].url, 3 * size), 3);
  const openWarm = await run('open', undefined, 1);
  size = Math.ceil(openWarm.rps * SECONDS * 1.5);

  const rows = [];
  const ratios = { vsPeer: [], vsPeerCpu: [], vsLimit: [], vsLimitCpu: [], limitVsOpen: [], limitVsPeer: [], limitVsPeerCpu: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = variants.map((_, k) => variants[(k + r) % variants.length]);
    const res = {};
    for (const v of order) res[v] = await run(v, v === 'open' ? undefined : await pool(servers[v].url, size), SECONDS);
    size = Math.max(size, Math.ceil(res.open.rps * SECONDS * 1.5));
    ratios.vsPeer.push(res.dpopkit.rps / res.peer.rps);
    ratios.vsPeerCpu.push(res.peer.cpuPerRequest / res.dpopkit.cpuPerRequest);
    ratios.vsLimit.push(res.dpopkit.rps / res.limit.rps);
    ratios.vsLimitCpu.push(res.limit.cpuPerRequest / res.dpopkit.cpuPerRequest);
    ratios.limitVsOpen.push(res.limit.rps / res.open.rps);
    ratios.limitVsPeer.push(res.limit.rps / res.peer.rps);
    ratios.limitVsPeerCpu.push(res.peer.cpuPerRequest / res.limit.cpuPerRequest);
    const us = (s) => (s * 1e6).toFixed(0);
    rows.push({
      round: r + 1,
      'open rps': Math.round(res.open.rps),
      'limit rps': Math.round(res.limit.rps),
      'dpopkit rps': Math.round(res.dpopkit.rps),
      'peer rps': Math.round(res.peer.rps),
      'server CPU µs/req open·limit·dpopkit·peer': `${us(res.open.cpuPerRequest)}·${us(res.limit.cpuPerRequest)}·${us(res.dpopkit.cpuPerRequest)}·${us(res.peer.cpuPerRequest)}`,
    });
  }
  for (const { child } of Object.values(servers)) child.send({ type: 'stop' });

  console.log(`Express 5 app, ES256 access token + a fresh ES256 proof per request, DPoP required; ${ROUNDS} rounds × ${SECONDS} s, ${CONNECTIONS} connections, order rotated per round`);
  console.table(rows);
  const m = Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, median(v)]));
  const verdict = (x, target) => (x >= target ? 'PASS' : 'MISS');
  console.log(`dpopkit ÷ express-oauth2-jwt-bearer: ${m.vsPeer.toFixed(2)}× wall-clock (target ≥ 2.5: ${verdict(m.vsPeer, 2.5)}); ${m.vsPeerCpu.toFixed(2)}× from server CPU per request`);
  console.log(`dpopkit ÷ limit (one raw crypto.verify of the proof): ${m.vsLimit.toFixed(2)} wall-clock (target ≥ 0.9: ${verdict(m.vsLimit, 0.9)}); ${m.vsLimitCpu.toFixed(2)} from server CPU per request`);
  console.log(`limit ÷ open (what one ES256 verify costs this app): ${m.limitVsOpen.toFixed(2)}`);
  // The limit does the least any DPoP check can: a check that verifies the proof on this thread
  // cannot beat the peer by more than this (dpopkit can exceed it in wall-clock only by moving
  // the verification off the thread, dpop.threadpool).
  console.log(`limit ÷ express-oauth2-jwt-bearer (the ceiling for one verify per request in this app): ${m.limitVsPeer.toFixed(2)}× wall-clock; ${m.limitVsPeerCpu.toFixed(2)}× from server CPU per request`);
}
