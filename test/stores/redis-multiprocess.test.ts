/**
 * Issue 3 evidence: two resource-server processes behind a "load balancer" share one Redis
 * replay cache, so a proof replayed to the other process is still refused (RFC 9449 §11.1).
 * Real parts only: two forked Node processes running dpopkit's resource server over node:http,
 * real Redis, a real JWKS server, real ES256 access tokens and proofs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProof, generateKeyPair, keyThumbprint } from '../../src/index.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { createTinyIssuer, type TinyIssuer } from '../support/tiny-issuer.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PUBLIC_URL = 'https://api.example.com';
const ISSUER = 'https://as.example.com';
const keyPrefix = uniquePrefix('multiproc');

let issuer: TinyIssuer | undefined;
let outfile = '';
let workers: { child: ChildProcess; port: number }[] = [];
let accessToken: string;
let dpopKey: Awaited<ReturnType<typeof generateKeyPair>>;

beforeAll(async () => {
  // The issuer: a signing key published by a tiny real JWKS server; a DPoP-bound access token.
  issuer = await createTinyIssuer(ISSUER);
  const jwksUri = issuer.jwksUri;
  dpopKey = await generateKeyPair('ES256');
  accessToken = await issuer.mint(PUBLIC_URL, await keyThumbprint(dpopKey));

  // Bundle the worker from the TypeScript sources (fresh, no dist/ needed).
  await mkdir(`${root}test-output`, { recursive: true });
  outfile = `${root}test-output/rs-worker-${process.pid}.mjs`;
  await build({
    entryPoints: [`${root}test/support/rs-worker.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
    plugins: [
      {
        name: 'crypto-backend',
        setup(b) {
          b.onResolve({ filter: /^#crypto$/ }, () => ({ path: `${root}src/core/crypto/node.ts` }));
        },
      },
    ],
  });
  const config = JSON.stringify({ issuer: ISSUER, audience: PUBLIC_URL, jwksUri, publicUrl: PUBLIC_URL, redisUrl: REDIS_URL, keyPrefix });
  workers = await Promise.all(
    [0, 1].map(
      (i) =>
        new Promise<{ child: ChildProcess; port: number }>((resolve, reject) => {
          const child = fork(outfile, [], { env: { ...process.env, RS_WORKER_CONFIG: config }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
          child.once('error', reject);
          child.once('exit', (code) => reject(new Error(`worker ${i} exited with ${code}`)));
          child.once('message', (m) => resolve({ child, port: (m as { port: number }).port }));
        }),
    ),
  );
});

afterAll(async () => {
  await Promise.all(
    workers.map(
      ({ child }) =>
        new Promise<void>((r) => {
          if (child.exitCode !== null) return r();
          child.once('exit', () => r());
          child.send('stop');
          setTimeout(() => child.kill(), 3000).unref();
        }),
    ),
  );
  await issuer?.close();
  await dropPrefix(keyPrefix);
  if (outfile) await rm(outfile, { force: true });
});

const proof = () => createProof(dpopKey, { htm: 'GET', htu: `${PUBLIC_URL}/items`, accessToken });

async function call(port: number, dpop: string) {
  const res = await fetch(`http://127.0.0.1:${port}/items`, {
    headers: { Authorization: `DPoP ${accessToken}`, DPoP: dpop, Host: 'api.example.com' },
  });
  await res.arrayBuffer();
  return { status: res.status, reason: res.headers.get('x-reason'), challenge: res.headers.get('www-authenticate') };
}

describe('Redis replay cache shared by two resource-server processes (RFC 9449 §11.1)', () => {
  it('both processes accept a fresh proof of their own (the setup is right)', async () => {
    const [a, b] = await Promise.all([call(workers[0]!.port, await proof()), call(workers[1]!.port, await proof())]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
  });

  it('the same proof sent to both processes concurrently, 100 times each → accepted exactly once in total', async () => {
    const dpop = await proof();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => call(workers[i % 2]!.port, dpop)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const refused = results.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(199);
    for (const r of refused) {
      expect(r.status).toBe(401);
      expect(r.reason).toBe('replayed');
      expect(r.challenge).toMatch(/^DPoP error="invalid_dpop_proof"/);
    }
  });

  it('100 distinct proofs, each sent to both processes at once → every proof accepted exactly once, by either process', async () => {
    const proofs = await Promise.all(Array.from({ length: 100 }, () => proof()));
    // Alternate which process is sent the copy first, so neither wins every race by position.
    const pairs = await Promise.all(
      proofs.map(async (p, i) => {
        const [first, second] = i % 2 === 0 ? [0, 1] : [1, 0];
        const answers = await Promise.all([call(workers[first]!.port, p), call(workers[second]!.port, p)]);
        return i % 2 === 0 ? answers : [answers[1], answers[0]];
      }),
    );
    for (const [a, b] of pairs as [Awaited<ReturnType<typeof call>>, Awaited<ReturnType<typeof call>>][]) {
      expect([a.status, b.status].sort()).toEqual([200, 401]);
      expect((a.status === 401 ? a : b).reason).toBe('replayed');
    }
    // Every proof was checked by both processes (each answered it), and exactly one of the two
    // accepted it; which one wins a given race is up to the scheduler.
    expect(pairs.flat().filter((r) => r!.status === 200)).toHaveLength(100);
  });
});
