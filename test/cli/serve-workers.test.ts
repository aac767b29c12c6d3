/**
 * `dpopkit serve --workers N` (node:cluster): refused with a clear message when the state is not
 * shared (PGlite, a memory replay cache); on PostgreSQL + Redis two workers share the ports,
 * tokens issued by either are good at the API, a proof replayed is refused whichever worker
 * sees it, and SIGTERM stops the fleet with exit 0. The admin port is the primary's: one
 * `/metrics` sums every worker (and keeps the counts of a worker that died), one `/readyz`
 * answers from every worker's probes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { basic, dpopKey, PG_URL, postForm, dropSchemas } from '../authorization-server/support/harness.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { CLI, freePort, freePorts, ROOT, writeDemoConfig } from '../support/serve-process.js';
import { workerEnvironment } from '../../src/cli/serve/workers.js';

/** Pids of the processes whose parent is `pid` (the workers of a primary). */
function childrenOf(pid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** One scrape of `/metrics`: a reader of series values (absent = undefined). */
async function scrape(admin: string): Promise<(series: string) => number | undefined> {
  const res = await fetch(`${admin}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return (series) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
}

const SCHEMA = `workers_${Math.random().toString(36).slice(2, 8)}`;
const prefix = uniquePrefix('workers');
const dir = mkdtempSync(join(tmpdir(), 'dpopkit-workers-'));

/** A process's environment variable, read from /proc (what it started with). */
function environmentOf(pid: number, name: string): string | undefined {
  const entry = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}

function run(args: string[]) {
  const { MALLOC_ARENA_MAX: _, ...env } = process.env;
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: ROOT, env: { ...env, NO_COLOR: '1', DPOPKIT_LOG_FORMAT: 'json', DPOPKIT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, exited, output: () => out };
}

afterAll(async () => {
  await dropSchemas(SCHEMA, `${SCHEMA}_api`);
  await dropPrefix(prefix);
  rmSync(dir, { recursive: true, force: true });
});

const only = (config: any) => {
  config.authorizationServer.clients = config.authorizationServer.clients.filter((c: { clientId: string }) => ['demo-spa', 'demo-service'].includes(c.clientId));
  config.authorizationServer.users = config.authorizationServer.users.filter((u: { username: string }) => u.username === 'alice');
  delete config.demo;
};

describe('dpopkit serve --workers', () => {
  it('gives each worker MALLOC_ARENA_MAX=2 (the threadpool threads\' malloc arenas), unless the user set it', () => {
    expect(workerEnvironment({})).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(workerEnvironment({ MALLOC_ARENA_MAX: '4' })).toEqual({});
  });

  it('refuses N > 1 with PGlite or a memory replay cache, saying what to use', async () => {
    const file = writeDemoConfig(dir, await freePorts(), only);
    const proc = run(['--config', file, '--workers', '2']);
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain('--workers 2 needs state shared by every worker');
    expect(proc.output()).toContain('PGlite');
    expect(proc.output()).toContain('in memory');
  });

  it('two workers on PostgreSQL + Redis serve tokens and the API together; the admin port sums both and answers readiness for both; SIGTERM exits 0', async () => {
    const ports = { ...(await freePorts()), admin: await freePort() };
    const admin = `http://127.0.0.1:${ports.admin}`;
    const file = writeDemoConfig(dir, ports, (config) => {
      only(config);
      config.authorizationServer.storage = { type: 'postgres', url: PG_URL, schema: SCHEMA };
      config.authorizationServer.replayCache = { type: 'redis', url: REDIS_URL, keyPrefix: prefix };
      config.api.dpop = { nonce: { secret: 'workers-test-nonce-secret-0123456789abcdef' } };
    });
    const proc = run(['--config', file, '--workers', '2']);
    const deadline = Date.now() + 90_000;
    while (!proc.output().includes('Press Ctrl+C to stop.')) {
      if (proc.child.exitCode !== null || Date.now() > deadline) throw new Error(`did not start:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(proc.output()).toContain('dpopkit is running: 2 workers');
    try {
      const token = `http://localhost:${ports.as}/token`;
      const api = `http://localhost:${ports.api}/api/hello`;
      const key = await dpopKey();
      for (let i = 0; i < 6; i++) {
        // New connections each time (no keep-alive), so both workers take some.
        const res = await postForm(token, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: basic('demo-service', 'demo-service-secret-change-me'), dpop: await key.proof(token), headers: { connection: 'close' } });
        expect(res.status).toBe(200);
        const accessToken = (await res.json()).access_token;
        const call = (proof: string) => fetch(api, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof, connection: 'close' } });
        const challenge = await call(await key.proof(api, { htm: 'GET', accessToken }));
        const nonce = challenge.headers.get('dpop-nonce')!;
        const proof = await key.proof(api, { htm: 'GET', accessToken, nonce });
        const ok = await call(proof);
        expect(ok.status, `${i} ${ok.headers.get('www-authenticate')}`).toBe(200);
        expect((await call(proof)).status).toBe(401); // replayed, whichever worker answers
      }

      // Connections go round robin: each worker served about half of the 6 + 18 requests. One
      // scrape sums them, and so does the next (one worker's view would be about half).
      for (let i = 0; i < 2; i++) {
        const value = await scrape(admin);
        expect(value('dpopkit_as_requests_total{endpoint="token",outcome="ok"}')).toBe(6);
        expect(value('dpopkit_rs_requests_total{outcome="accepted"}')).toBe(6);
        expect(value('dpopkit_rs_requests_total{outcome="refused"}')).toBe(12);
        expect(value('dpopkit_rs_replays_total')).toBe(6);
        expect(value('dpopkit_rs_nonce_challenges_total')).toBe(6);
        expect(value('dpopkit_rs_request_seconds_count')).toBe(18);
        expect(value('dpopkit_rs_proof_verify_seconds_count{outcome="ok"}')).toBe(6);
        expect(value('dpopkit_rs_token_verify_seconds_count{kind="jwt",outcome="ok"}')).toBe(18);
        expect(value('dpopkit_replay_cache_seconds_count{cache="api",op="reserve"}')).toBe(12);
        // Each worker fetched the JWK Set once.
        expect(value('dpopkit_rs_jwks_fetches_total{reason="initial",outcome="ok"}')).toBe(2);
      }
      const ready = await fetch(`${admin}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ok', checks: { storage: 'ok', replayCache: 'ok', apiReplayCache: 'ok' }, workers: { ready: 2, of: 2 } });
      expect((await fetch(`${admin}/healthz`)).status).toBe(200);

      // A worker dies: its counts stay in the sums (a sum that went down would read as a
      // counter reset), and the primary's replacement adds its own from zero.
      const workers = childrenOf(proc.child.pid!);
      expect(workers).toHaveLength(2);
      for (const pid of workers) expect(environmentOf(pid, 'MALLOC_ARENA_MAX')).toBe('2');
      expect(environmentOf(proc.child.pid!, 'MALLOC_ARENA_MAX')).toBeUndefined();
      process.kill(workers[0]!, 'SIGKILL');
      const deadline = Date.now() + 60_000;
      while (!proc.output().includes('starting another')) {
        if (Date.now() > deadline) throw new Error(`no replacement:\n${proc.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const afterDeath = await scrape(admin);
      expect(afterDeath('dpopkit_as_requests_total{endpoint="token",outcome="ok"}')).toBe(6);
      expect(afterDeath('dpopkit_rs_requests_total{outcome="refused"}')).toBe(12);
      // Ready all along (the survivor answers), and two of two again once the replacement is.
      let body: { status?: string; workers?: { ready: number } } = {};
      while (Date.now() < deadline) {
        const res = await fetch(`${admin}/readyz`);
        body = await res.json();
        expect([res.status, body.status]).toEqual([200, 'ok']);
        if (body.workers?.ready === 2) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(body.workers).toEqual({ ready: 2, of: 2 });
      const res = await postForm(token, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: basic('demo-service', 'demo-service-secret-change-me'), dpop: await key.proof(token), headers: { connection: 'close' } });
      expect(res.status).toBe(200);
      expect((await scrape(admin))('dpopkit_as_requests_total{endpoint="token",outcome="ok"}')).toBe(7);
    } finally {
      proc.child.kill('SIGTERM');
    }
    expect(await proc.exited, proc.output()).toBe(0);
  }, 120_000);
});
