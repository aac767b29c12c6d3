// Core benchmark: a verifier's verify (createProofVerifier, the path the resource and
// authorization servers take) and a signer's sign (createProofSigner, the DPoP client's) against raw node:crypto and against the
// jose EmbeddedJWK + calculateJwkThumbprint path node-oidc-provider uses; replay-cache memory.
// Every ratio comes from many short back-to-back windows of the two sides, alternating which goes
// first, so both sides of one ratio see the same machine; the table gives the median of those
// per-pair ratios and, beside it, their middle half (25th–75th percentile).
import * as crypto from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';
import { createProofSigner, createProofVerifier, generateKeyPair } from '../../dist/index.js';
import { createMemoryReplayCache } from '../../dist/stores/memory.js';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 40);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 60);
const URL = 'https://api.example.com/resource';
const quantile = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * q))]; };
const median = (xs) => quantile(xs, 0.5);

/** Operations per second of `op` (async allowed) over about `ms`; the clock is read every 4 calls. */
async function timed(op, ms) {
  let n = 0;
  const start = performance.now();
  let end = start;
  while ((end = performance.now()) - start < ms) {
    for (let i = 0; i < 4; i++) await op(n++);
  }
  return (n * 1000) / (end - start);
}

/** One window of a side: `start()` (a fresh replay cache, say) and then `op` for WINDOW_MS. */
function window(side) {
  side.start?.();
  return timed(side.op, WINDOW_MS);
}

/**
 * rate(a) ÷ rate(b) over `pairs` back-to-back pairs of windows, alternating which side goes
 * first. Both sides are warmed first, on a collected heap.
 */
async function paired(a, b, pairs = PAIRS) {
  global.gc?.();
  await window(a); await window(b);
  const ratios = [], rates = [];
  for (let p = 0; p < pairs; p++) {
    let ra, rb;
    if (p % 2) { rb = await window(b); ra = await window(a); } else { ra = await window(a); rb = await window(b); }
    ratios.push(ra / rb);
    rates.push(ra);
  }
  return { ratio: median(ratios), middle: `${quantile(ratios, 0.25).toFixed(2)}–${quantile(ratios, 0.75).toFixed(2)}`, rate: median(rates) };
}

const NODE_PARAMS = {
  ES256: ['sha256', { dsaEncoding: 'ieee-p1363' }],
  EdDSA: [null, {}],
  RS256: ['sha256', {}],
  PS256: ['sha256', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST }],
};

/**
 * The floor under any JavaScript verifier of the same design, measured beside the others: split
 * the proof, compare the header with the one seen before, decode and JSON.parse the payload,
 * decode the signature and call crypto.verify. No §4.3 check, no replay cache: only the reading
 * every verifier must do, so what it loses against raw crypto.verify shows how much room any
 * complete verifier has left.
 */
function floorVerifier(firstProof, hash, key, opts) {
  const header = firstProof.slice(0, firstProof.indexOf('.'));
  const bytes = Buffer.allocUnsafe(16384);
  const keyArgument = { key, ...opts };
  return (proof) => {
    const a = proof.indexOf('.');
    const b = proof.indexOf('.', a + 1);
    if (proof.slice(0, a) !== header) throw new Error('header changed');
    const claims = JSON.parse(bytes.toString('utf8', 0, bytes.write(proof.slice(a + 1, b), 0, 'base64url')));
    const dataLength = bytes.write(proof.slice(0, b), 0, 'latin1');
    const sigLength = bytes.write(proof.slice(b + 1), dataLength, 'base64url');
    if (!crypto.verify(hash, bytes.subarray(0, dataLength), keyArgument, bytes.subarray(dataLength, dataLength + sigLength))) throw new Error('bad signature');
    return claims;
  };
}

const rows = [];
const middles = {};
for (const alg of ['ES256', 'EdDSA', 'RS256', 'PS256']) {
  const keyPair = await generateKeyPair(alg, { extractable: true });
  const [hash, opts] = NODE_PARAMS[alg];
  // Distinct jti per proof; each window of verify starts a fresh replay cache. One verifier and
  // one signer per algorithm, as a server and a client hold theirs.
  const verifier = createProofVerifier();
  const signer = createProofSigner();
  const proofs = [];
  for (let i = 0; i < 20000; i++) proofs.push(await signer.sign(keyPair, { htm: 'GET', htu: URL, alg }));
  // The raw baseline verifies the very proofs the verifier does ("the same bytes"), decoded
  // beforehand so that all decoding is charged to the verifier. The old baseline, one proof
  // verified over and over, is printed beside it.
  const decoded = proofs.map((proof) => {
    const dot = proof.lastIndexOf('.');
    return [Buffer.from(proof.slice(0, dot)), Buffer.from(proof.slice(dot + 1), 'base64url')];
  });
  const [data, sig] = decoded[0];
  const publicKey = keyPair.publicKey;
  const cycle = (list) => { let k = 0; return () => list[k++ % list.length]; };

  const nextProof = cycle(proofs);
  let replayCache;
  const ours = {
    start: () => { replayCache = createMemoryReplayCache(); },
    op: () => verifier.verify(nextProof(), { method: 'GET', url: URL, replayCache, maxAge: 3600 }),
  };
  const nextDecoded = cycle(decoded);
  const raw = { op: () => { const [bytes, signature] = nextDecoded(); return crypto.verify(hash, bytes, { key: publicKey, ...opts }, signature); } };
  const rawOne = { op: () => crypto.verify(hash, data, { key: publicKey, ...opts }, sig) };
  const floor = floorVerifier(proofs[0], hash, publicKey, opts);
  const nextFloorProof = cycle(proofs);
  const floorSide = { op: () => floor(nextFloorProof()) };
  const nextJoseProof = cycle(proofs);
  const jose = {
    op: async () => {
      const { protectedHeader } = await jwtVerify(nextJoseProof(), EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [alg], maxTokenAge: 3600 });
      await calculateJwkThumbprint(protectedHeader.jwk);
    },
  };
  const ourSign = { op: () => signer.sign(keyPair, { htm: 'GET', htu: URL, alg }) };
  const rawSign = { op: () => crypto.sign(hash, data, { key: keyPair.privateKey, ...opts }) };

  const verify = await paired(ours, raw);
  const verifyOne = await paired(ours, rawOne, PAIRS / 2);
  const floorRatio = await paired(floorSide, raw);
  const overFloor = await paired(ours, floorSide);
  const joseRatio = await paired(ours, jose, PAIRS / 4);
  const sign = await paired(ourSign, rawSign);
  middles[alg] = { verify: verify.middle, floor: floorRatio.middle, overFloor: overFloor.middle, sign: sign.middle };
  rows.push({ alg, 'verify/s': Math.round(verify.rate), 'verify ÷ raw crypto.verify': verify.ratio.toFixed(2), '÷ raw, one proof repeated': verifyOne.ratio.toFixed(2), 'floor ÷ raw': floorRatio.ratio.toFixed(2), 'verify ÷ floor': overFloor.ratio.toFixed(2), 'verify ÷ jose+EmbeddedJWK': joseRatio.ratio.toFixed(2), 'createProof ÷ raw crypto.sign': sign.ratio.toFixed(2) });
}
console.log(`verifier.verify (createProofVerifier: full checks, memory replay cache, distinct jti) and signer.sign (createProofSigner); medians of ${PAIRS} back-to-back pairs of ${WINDOW_MS} ms windows`);
console.log('raw crypto.verify: cached KeyObject, on the same proofs the verifier checks (signing input and signature decoded beforehand); "one proof repeated" verifies a single proof over and over');
console.log('floor: split + header compare + base64url/JSON.parse of the payload + crypto.verify, no checks and no replay cache (only the reading every verifier must do)');
console.table(rows);
const es = rows.find((r) => r.alg === 'ES256');
const verdict = (ok) => (ok ? 'PASS' : 'MISS');
for (const r of rows) {
  const m = middles[r.alg];
  const rawTarget = r.alg === 'ES256' || r.alg === 'EdDSA' ? ` target ≥ 0.85: ${verdict(r['verify ÷ raw crypto.verify'] >= 0.85)};` : '';
  console.log(`${r.alg}: verify÷floor ${r['verify ÷ floor']} (${m.overFloor}; target ≥ 0.9: ${verdict(r['verify ÷ floor'] >= 0.9)}), verify÷raw ${r['verify ÷ raw crypto.verify']} (middle half of pairs ${m.verify};${rawTarget} floor ${r['floor ÷ raw']}, ${m.floor}), createProof÷raw ${r['createProof ÷ raw crypto.sign']} (${m.sign}; target ≥ 0.8: ${verdict(r['createProof ÷ raw crypto.sign'] >= 0.8)})`);
}
console.log(`ES256 verify ÷ jose path ${es['verify ÷ jose+EmbeddedJWK']} (target ≥ 4: ${verdict(es['verify ÷ jose+EmbeddedJWK'] >= 4)})`);

// Replay-cache memory per entry at 1,000,000 live entries.
global.gc?.();
const before = process.memoryUsage();
const cache = createMemoryReplayCache({ maxEntries: 1_000_000 });
const exp = Math.floor(Date.now() / 1000) + 3600;
for (let i = 0; i < 1_000_000; i++) cache.reserve(`jkt-${i % 1000}:jti-${i}`, exp);
global.gc?.();
const after = process.memoryUsage();
const heapDelta = (after.heapUsed + after.arrayBuffers) - (before.heapUsed + before.arrayBuffers);
const perEntry = Math.max(heapDelta, cache.bytes) / cache.size;
console.log(`memory replay cache: ${cache.size} entries, table ${(cache.bytes / 1e6).toFixed(1)} MB, ${perEntry.toFixed(1)} bytes/entry (target ≤ 150: ${verdict(perEntry <= 150)})`);
