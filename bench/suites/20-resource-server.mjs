// Resource-server HTTP benchmark (issue 3): the node:http adapter on loopback, driven by
// autocannon. Protected route: ES256 JWT access token (RFC 9068) + ES256 proof, a distinct proof
// per request (pre-generated pool), in-memory replay cache. Ratios measured in one run, per
// round, medians over rounds:
//   protected ÷ unprotected (same server), and
//   protected ÷ predicted, predicted = 1 / (1/unprotected + 2 × t_verify), with t_verify the
//   cost of one raw crypto.verify ES256 measured in the same run (target ≥ 0.8).
// The server runs in a worker thread so autocannon and the server do not share an event loop.
import * as crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { SignJWT } from 'jose';
import { createProof, generateKeyPair, keyThumbprint } from '../../dist/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const POOL = Number(process.env.BENCH_POOL ?? 0);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// The issuer's key (signs the access token) and the client's DPoP key.
const issuerKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const issuerJwk = { ...issuerKey.publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'ES256', use: 'sig' };
const client = await generateKeyPair('ES256', { extractable: true });
const jkt = await keyThumbprint(client);

const serverCode = `
import { createServer } from 'node:http';
import { workerData, parentPort } from 'node:worker_threads';
const { createResourceServer } = await import(workerData.rsUrl);
const { dpopNode } = await import(workerData.nodeUrl);
let guard;
const body = JSON.stringify({ ok: true });
const server = createServer((req, res) => {
  if (req.url === '/public') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end(body); }
  if (req.url === '/jwks') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end(JSON.stringify({ keys: [workerData.jwk] })); }
  guard(req, res, () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const rs = createResourceServer({ issuer: 'https://as.bench', audience: 'https://api.bench', jwksUri: 'http://127.0.0.1:' + port + '/jwks', maxAge: 3600 });
  guard = dpopNode(rs);
  parentPort.postMessage(port);
});
// Raw crypto.verify ES256, timed on the server's own thread (same core conditions as the server).
const { verify, createPublicKey } = await import('node:crypto');
parentPort.on('message', (m) => {
  if (m === 'stop') return server.close(() => process.exit(0));
  const key = { key: createPublicKey({ key: workerData.jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' };
  const data = Buffer.from(m.data);
  const sig = Buffer.from(m.sig, 'base64url');
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 500) {
    for (let k = 0; k < 100; k++) verify('sha256', data, key, sig);
    n += 100;
  }
  parentPort.postMessage((performance.now() - start) / 1000 / n);
});
`;
const worker = new Worker(serverCode, {
  eval: true,
  workerData: {
    jwk: issuerJwk,
    rsUrl: new URL('../../dist/resource-server/index.js', import.meta.url).href,
    nodeUrl: new URL('../../dist/resource-server/adapters/node.js', import.meta.url).href,
  },
});
const port = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
const base = `http://127.0.0.1:${port}`;

const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ iss: 'https://as.bench', aud: 'https://api.bench', sub: 'bench', client_id: 'bench', scope: 'read', cnf: { jkt }, iat: now, exp: now + 3600 })
  .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'bench' })
  .sign(issuerKey.privateKey);

/** Requests per second of one autocannon run; `proofs` makes every request carry a fresh proof. */
async function run(path, proofs, amount) {
  let i = 0;
  const request = { method: 'GET', path };
  if (proofs) {
    request.headers = { authorization: `DPoP ${token}` };
    request.setupRequest = (req) => ({ ...req, headers: { ...req.headers, dpop: proofs[i++ % proofs.length] } });
  }
  const result = await autocannon({ url: base, connections: CONNECTIONS, ...(amount ? { amount } : { duration: SECONDS }), requests: [request] });
  if (proofs && i > proofs.length) throw new Error(`proof pool too small (${proofs.length} for ${i} requests): replays would be measured`);
  return { rps: result.requests.total / (amount ? result.duration : SECONDS), non2xx: result.non2xx, errors: result.errors };
}

/** Seconds per raw crypto.verify ES256 on the access token, measured in the server thread. */
function rawVerifySeconds() {
  const dot = token.lastIndexOf('.');
  worker.postMessage({ data: token.slice(0, dot), sig: token.slice(dot + 1) });
  return new Promise((resolve) => worker.once('message', resolve));
}

// Warm up (JWKS fetch, header caches, JIT) and size the proof pool from the warm-up rate.
const warm = await Promise.all(Array.from({ length: 2000 }, () => createProof(client, { htm: 'GET', htu: `${base}/protected`, accessToken: token })));
const warmRun = await run('/protected', warm, 1500);
if (warmRun.non2xx > 0) throw new Error(`warm-up: ${warmRun.non2xx} protected requests were refused`);
await run('/public', undefined, 3000);
let poolSize = POOL || Math.ceil(Math.max(warmRun.rps * 3, 4000) * SECONDS);

const rows = [];
const vsUnprotected = [];
const vsPredicted = [];
for (let r = 0; r < ROUNDS; r++) {
  const proofs = [];
  for (let k = 0; k < poolSize; k++) proofs.push(await createProof(client, { htm: 'GET', htu: `${base}/protected`, accessToken: token }));
  const tVerify = await rawVerifySeconds();
  const open = await run('/public');
  const guarded = await run('/protected', proofs);
  // keep the pool at least twice the measured need
  poolSize = Math.max(poolSize, Math.ceil(guarded.rps * SECONDS * 2));
  if (guarded.non2xx > 0 || guarded.errors > 0) throw new Error(`round ${r + 1}: ${guarded.non2xx} refused, ${guarded.errors} errors`);
  const predicted = 1 / (1 / open.rps + 2 * tVerify);
  vsUnprotected.push(guarded.rps / open.rps);
  vsPredicted.push(guarded.rps / predicted);
  rows.push({ round: r + 1, 'unprotected rps': Math.round(open.rps), 'protected rps': Math.round(guarded.rps), 'raw verify/s': Math.round(1 / tVerify), 'predicted rps': Math.round(predicted), 'protected ÷ unprotected': (guarded.rps / open.rps).toFixed(2), 'protected ÷ predicted': (guarded.rps / predicted).toFixed(2) });
}
worker.postMessage('stop');

console.log(`node:http resource server, ES256 JWT access token + ES256 proof, unique proofs, memory replay; ${ROUNDS} rounds × ${SECONDS} s, ${CONNECTIONS} connections`);
console.table(rows);
const ratio = median(vsPredicted);
console.log(`protected ÷ unprotected: ${median(vsUnprotected).toFixed(2)} (median)`);
console.log(`protected ÷ predicted (1/(1/unprotected + 2·t_verify)): ${ratio.toFixed(2)} (target ≥ 0.8: ${ratio >= 0.8 ? 'PASS' : 'MISS'})`);
