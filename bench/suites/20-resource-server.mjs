// Resource-server HTTP benchmark: the node:http adapter on loopback, driven by
// autocannon. Protected route: ES256 JWT access token (RFC 9068) + ES256 proof, a distinct proof
// per request (pre-generated pools), in-memory replay cache. Per round, medians over rounds:
//   protected ÷ unprotected (same server), and
//   protected ÷ predicted, predicted = 1 / (1/unprotected + 2 × t_verify), with t_verify the cost
//   of one raw crypto.verify ES256 measured in the same run, in the server process.
// Two protected routes: `/protected-nocache` verifies the token signature on every request (two
// verifies per request: the case the target is defined for); `/protected` is the default
// configuration, which remembers verified tokens (one verify per request once warm).
// The server runs in a child process (this file with --server) so that autocannon does not share
// its event loop, and reports its own CPU time: on a shared machine, wall-clock rates depend on
// what else runs, so the same ratio is also printed from CPU time per request, which does not.
import * as crypto from 'node:crypto';
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const ISSUER = 'https://as.bench';
const AUDIENCE = 'https://api.bench';

if (process.argv.includes('--server')) {
  // ---- server process ----
  const { createResourceServer } = await import('../../dist/resource-server/index.js');
  const { dpopNode } = await import('../../dist/resource-server/adapters/node.js');
  const jwk = JSON.parse(process.env.BENCH_JWK);
  const body = JSON.stringify({ ok: true });
  const ok = (res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); };
  let guard;
  let guardNoCache;
  const clientKey = crypto.createPublicKey({ key: JSON.parse(process.env.BENCH_CLIENT_JWK), format: 'jwk' });
  const issuerKey = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  /** Raw crypto.verify of a compact JWS taken from a header (no JSON, no checks). */
  const rawVerify = (jws, key) => {
    const dot = jws.lastIndexOf('.');
    return crypto.verify('sha256', Buffer.from(jws.slice(0, dot), 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(jws.slice(dot + 1), 'base64url'));
  };
  const server = createServer((req, res) => {
    if (req.url === '/public') return ok(res);
    if (req.url === '/two-verifies') {
      // The prediction, measured: the unprotected answer plus two raw verifies of the same
      // token and proof, under the very same conditions as the protected route.
      const a = rawVerify(req.headers.authorization.slice(5), issuerKey);
      const b = rawVerify(req.headers.dpop, clientKey);
      if (!a || !b) { res.writeHead(401); return res.end(); }
      return ok(res);
    }
    if (req.url === '/jwks') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end(JSON.stringify({ keys: [jwk] })); }
    (req.url === '/protected' ? guard : guardNoCache)(req, res, () => ok(res));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    // The bench API is reached at 127.0.0.1, not at its audience's origin.
    const options = { issuer: ISSUER, audience: AUDIENCE, allowedHosts: ['127.0.0.1'], jwksUri: `http://127.0.0.1:${port}/jwks`, dpop: { maxAge: 3600 } };
    guard = dpopNode(createResourceServer(options));
    guardNoCache = dpopNode(createResourceServer({ ...options, tokenCacheSize: 0 }));
    process.send({ port });
  });
  const key = { key: crypto.createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' };
  let cpu;
  process.on('message', (m) => {
    if (m.type === 'stop') return server.close(() => process.exit(0));
    if (m.type === 'cpu-start') { cpu = process.cpuUsage(); return; }
    if (m.type === 'cpu-stop') { const d = process.cpuUsage(cpu); return process.send({ cpu: (d.user + d.system) / 1e6 }); }
    if (m.type === 'verify') {
      // Raw crypto.verify ES256 on the access token: wall and CPU seconds per call.
      const data = Buffer.from(m.data);
      const sig = Buffer.from(m.sig, 'base64url');
      let n = 0;
      const c0 = process.cpuUsage();
      const start = performance.now();
      while (performance.now() - start < 500) {
        for (let k = 0; k < 100; k++) crypto.verify('sha256', data, key, sig);
        n += 100;
      }
      const wall = (performance.now() - start) / 1000 / n;
      const d = process.cpuUsage(c0);
      process.send({ wall, cpu: (d.user + d.system) / 1e6 / n });
    }
  });
} else {
  // ---- driver process ----
  const { default: autocannon } = await import('autocannon');
  const { createProof } = await import('../../dist/index.js');

  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
  const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
  const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

  const { boundToken } = await import('../support/bound-token.mjs');
  const { issuerJwk, client, clientJwk, token } = await boundToken({ issuer: ISSUER, audience: AUDIENCE });

  const child = fork(fileURLToPath(import.meta.url), ['--server'], {
    execArgv: process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [],
    env: { ...process.env, BENCH_JWK: JSON.stringify(issuerJwk), BENCH_CLIENT_JWK: JSON.stringify(clientJwk) },
    stdio: 'inherit',
  });
  const ask = (message) => new Promise((resolve) => { child.once('message', resolve); if (message) child.send(message); });
  const { port } = await ask();
  const base = `http://127.0.0.1:${port}`;

  /** One autocannon run: requests per second, and the server's CPU seconds per request. */
  async function run(path, proofs, amount) {
    let i = 0;
    const request = { method: 'GET', path };
    if (proofs) {
      request.headers = { authorization: `DPoP ${token}` };
      request.setupRequest = (req) => ({ ...req, headers: { ...req.headers, dpop: proofs[i++ % proofs.length] } });
    }
    child.send({ type: 'cpu-start' });
    const result = await autocannon({ url: base, connections: CONNECTIONS, ...(amount ? { amount } : { duration: SECONDS }), requests: [request] });
    const { cpu } = await ask({ type: 'cpu-stop' });
    if (proofs && i > proofs.length) throw new Error(`proof pool too small (${proofs.length} for ${i} requests): replays would be measured`);
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${path}: ${result.non2xx} refused, ${result.errors} errors`);
    const total = result.requests.total;
    return { rps: total / (amount ? result.duration : SECONDS), cpuPerRequest: cpu / total };
  }
  const pool = async (path, size) => {
    const proofs = [];
    for (let k = 0; k < size; k++) proofs.push(await createProof(client, { htm: 'GET', htu: `${base}${path}`, accessToken: token }));
    return proofs;
  };

  // Warm up (JWKS fetch, header caches, JIT), and size the proof pools from the warm-up rate.
  const warm = await run('/protected-nocache', await pool('/protected-nocache', 2000), 1500);
  await run('/protected', await pool('/protected', 2000), 1500);
  await run('/public', undefined, 3000);
  let poolSize = Math.ceil(Math.max(warm.rps * 3, 4000) * SECONDS);

  const dot = token.lastIndexOf('.');
  const rows = [];
  const ratios = { vsOpen: [], vsPredicted: [], vsPredictedCpu: [], vsMeasured: [], vsMeasuredCpu: [], cachedVsPredicted: [], cachedVsPredictedCpu: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const uncachedPool = await pool('/protected-nocache', poolSize);
    const cachedPool = await pool('/protected', poolSize);
    const verify = await ask({ type: 'verify', data: token.slice(0, dot), sig: token.slice(dot + 1) });
    const open = await run('/public');
    const uncached = await run('/protected-nocache', uncachedPool);
    const cached = await run('/protected', cachedPool);
    const baseline = await run('/two-verifies', uncachedPool);
    poolSize = Math.max(poolSize, Math.ceil(Math.max(uncached.rps, cached.rps) * SECONDS * 2));
    const predicted = 1 / (1 / open.rps + 2 * verify.wall);
    const predictedCpu = open.cpuPerRequest + 2 * verify.cpu; // CPU seconds per request
    ratios.vsOpen.push(uncached.rps / open.rps);
    ratios.vsPredicted.push(uncached.rps / predicted);
    ratios.vsPredictedCpu.push(predictedCpu / uncached.cpuPerRequest);
    ratios.vsMeasured.push(uncached.rps / baseline.rps);
    ratios.vsMeasuredCpu.push(baseline.cpuPerRequest / uncached.cpuPerRequest);
    ratios.cachedVsPredicted.push(cached.rps / predicted);
    ratios.cachedVsPredictedCpu.push(predictedCpu / cached.cpuPerRequest);
    const us = (s) => (s * 1e6).toFixed(0);
    rows.push({
      round: r + 1,
      'unprotected rps': Math.round(open.rps),
      'raw verify/s': Math.round(1 / verify.wall),
      'predicted rps': Math.round(predicted),
      'two raw verifies route rps': Math.round(baseline.rps),
      'protected rps (2 verifies)': Math.round(uncached.rps),
      'protected rps (default)': Math.round(cached.rps),
      'server CPU µs/req: open·1 raw verify·2-raw route·protected·default': `${us(open.cpuPerRequest)}·${us(verify.cpu)}·${us(baseline.cpuPerRequest)}·${us(uncached.cpuPerRequest)}·${us(cached.cpuPerRequest)}`,
    });
  }
  child.send({ type: 'stop' });

  console.log(`node:http resource server, ES256 JWT access token + ES256 proof, unique proofs, memory replay; ${ROUNDS} rounds × ${SECONDS} s, ${CONNECTIONS} connections`);
  console.table(rows);
  const m = Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, median(v)]));
  const verdict = (x) => (x >= 0.8 ? 'PASS' : 'MISS');
  console.log(`protected (token verified every request) ÷ unprotected: ${m.vsOpen.toFixed(2)}`);
  console.log(`protected (token verified every request) ÷ predicted 1/(1/unprotected + 2·t_verify): ${m.vsPredicted.toFixed(2)} wall-clock (target ≥ 0.8: ${verdict(m.vsPredicted)}); ${m.vsPredictedCpu.toFixed(2)} from server CPU time per request (${verdict(m.vsPredictedCpu)})`);
  console.log(`protected (token verified every request) ÷ a route doing exactly the unprotected answer + 2 raw crypto.verify of the same token and proof, same run: ${m.vsMeasured.toFixed(2)} wall-clock (target ≥ 0.8: ${verdict(m.vsMeasured)}); ${m.vsMeasuredCpu.toFixed(2)} from CPU time`);
  console.log(`protected (default, verified-token cache) ÷ predicted: ${m.cachedVsPredicted.toFixed(2)} wall-clock; ${m.cachedVsPredictedCpu.toFixed(2)} from CPU time`);
}
