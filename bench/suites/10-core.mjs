// Core benchmark (issue 2): verifyProof and createProof against raw node:crypto and against the
// jose EmbeddedJWK + calculateJwkThumbprint path node-oidc-provider uses; replay-cache memory.
// Ratios are measured in one run, interleaved, as medians over rounds.
import * as crypto from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';
import { createProof, generateKeyPair, verifyProof } from '../../dist/index.js';
import { createMemoryReplayCache } from '../../dist/stores/memory.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 300);
const URL = 'https://api.example.com/resource';
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/**
 * Operations per second of `fn` (async allowed) over about ROUND_MS, in steady state: the heap is
 * collected first and `fn` warmed up, so garbage left by the previous measurement (jose allocates
 * a lot) is never charged to the next one.
 */
async function rate(fn) {
  global.gc?.();
  await timed(fn, ROUND_MS / 6);
  global.gc?.();
  return timed(fn, ROUND_MS);
}

async function timed(fn, ms) {
  let n = 0;
  const start = performance.now();
  let end = start;
  while ((end = performance.now()) - start < ms) {
    for (let i = 0; i < 50; i++) await fn(n++);
  }
  return (n * 1000) / (end - start);
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
for (const alg of ['ES256', 'EdDSA', 'RS256', 'PS256']) {
  const keyPair = await generateKeyPair(alg, { extractable: true });
  const [hash, opts] = NODE_PARAMS[alg];
  // Distinct jti per proof: pre-generate enough proofs for every round.
  const proofs = [];
  for (let i = 0; i < 20000; i++) proofs.push(await createProof(keyPair, { htm: 'GET', htu: URL, alg }));
  // The raw baseline verifies the very proofs verifyProof does ("the same bytes"), decoded
  // beforehand so that all decoding is charged to verifyProof. The old baseline, one proof
  // verified over and over, is printed beside it.
  const decoded = proofs.map((proof) => {
    const dot = proof.lastIndexOf('.');
    return [Buffer.from(proof.slice(0, dot)), Buffer.from(proof.slice(dot + 1), 'base64url')];
  });
  const [data, sig] = decoded[0];
  const publicKey = keyPair.publicKey;

  const floor = floorVerifier(proofs[0], hash, publicKey, opts);
  const ratioRaw = [], ratioRawOne = [], ratioFloor = [], ratioJose = [], ratioSign = [], ours = [];
  for (let r = 0; r < ROUNDS; r++) {
    let i = 0;
    const replayCache = createMemoryReplayCache();
    // Alternate which side goes first, so a drift of the machine's speed favours neither.
    let k = 0;
    const rawVerify = () => rate(() => {
      const [bytes, signature] = decoded[k++ % decoded.length];
      return crypto.verify(hash, bytes, { key: publicKey, ...opts }, signature);
    });
    const rawVerifyOne = () => rate(() => crypto.verify(hash, data, { key: publicKey, ...opts }, sig));
    const ourVerify = () => rate(() => verifyProof(proofs[i++ % proofs.length], { method: 'GET', url: URL, replayCache, maxAge: 3600 }));
    let raw, rawOne, mine;
    if (r % 2) { raw = await rawVerify(); rawOne = await rawVerifyOne(); mine = await ourVerify(); } else { mine = await ourVerify(); rawOne = await rawVerifyOne(); raw = await rawVerify(); }
    let j = 0;
    const jose = await rate(async () => {
      const { protectedHeader } = await jwtVerify(proofs[j++ % proofs.length], EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [alg], maxTokenAge: 3600 });
      await calculateJwkThumbprint(protectedHeader.jwk);
    });
    const rawSigning = () => rate(() => crypto.sign(hash, data, { key: keyPair.privateKey, ...opts }));
    const ourSigning = () => rate(() => createProof(keyPair, { htm: 'GET', htu: URL, alg }));
    let rawSign, mineSign;
    if (r % 2) { rawSign = await rawSigning(); mineSign = await ourSigning(); } else { mineSign = await ourSigning(); rawSign = await rawSigning(); }
    let f = 0;
    const floorRate = await rate(() => floor(proofs[f++ % proofs.length]));
    ratioFloor.push(floorRate / raw);
    ratioRaw.push(mine / raw); ratioRawOne.push(mine / rawOne); ratioJose.push(mine / jose); ratioSign.push(mineSign / rawSign); ours.push(mine);
  }
  rows.push({ alg, 'verify/s': Math.round(median(ours)), 'verify ÷ raw crypto.verify': median(ratioRaw).toFixed(2), '÷ raw, one proof repeated': median(ratioRawOne).toFixed(2), 'floor ÷ raw': median(ratioFloor).toFixed(2), 'verify ÷ jose+EmbeddedJWK': median(ratioJose).toFixed(2), 'createProof ÷ raw crypto.sign': median(ratioSign).toFixed(2) });
}
console.log(`verifyProof (full checks, memory replay cache, distinct jti) and createProof; medians of ${ROUNDS} rounds`);
console.log('raw crypto.verify: cached KeyObject, on the same proofs verifyProof checks (signing input and signature decoded beforehand); "one proof repeated" verifies a single proof over and over');
console.log('floor: split + header compare + base64url/JSON.parse of the payload + crypto.verify, no checks and no replay cache (only the reading every verifier must do)');
console.table(rows);
const es = rows.find((r) => r.alg === 'ES256');
const verdict = (ok) => (ok ? 'PASS' : 'MISS');
for (const r of rows) {
  console.log(`${r.alg}: verify÷raw ${r['verify ÷ raw crypto.verify']} (target ≥ 0.85: ${verdict(r['verify ÷ raw crypto.verify'] >= 0.85)}), createProof÷raw ${r['createProof ÷ raw crypto.sign']} (target ≥ 0.8: ${verdict(r['createProof ÷ raw crypto.sign'] >= 0.8)})`);
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
