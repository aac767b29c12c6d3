/**
 * `dpopkit serve --workers N` (node:cluster): refused with a clear message when the state is not
 * shared (PGlite, a memory replay cache); on PostgreSQL + Redis two workers share the ports,
 * tokens issued by either are good at the API, a proof replayed is refused whichever worker
 * sees it, and SIGTERM stops the fleet with exit 0.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { basic, dpopKey, PG_URL, postForm, dropSchemas } from '../authorization-server/support/harness.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../support/redis.js';
import { CLI, freePorts, ROOT, writeDemoConfig } from '../support/serve-process.js';

const SCHEMA = `workers_${Math.random().toString(36).slice(2, 8)}`;
const prefix = uniquePrefix('workers');
const dir = mkdtempSync(join(tmpdir(), 'dpopkit-workers-'));

function run(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', DPOPKIT_LOG_FORMAT: 'json', DPOPKIT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
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
  it('refuses N > 1 with PGlite or a memory replay cache, saying what to use', async () => {
    const file = writeDemoConfig(dir, await freePorts(), only);
    const proc = run(['--config', file, '--workers', '2']);
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain('--workers 2 needs state shared by every worker');
    expect(proc.output()).toContain('PGlite');
    expect(proc.output()).toContain('in memory');
  });

  it('two workers on PostgreSQL + Redis serve tokens and the API together; SIGTERM exits 0', async () => {
    const ports = await freePorts();
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
    } finally {
      proc.child.kill('SIGTERM');
    }
    expect(await proc.exited).toBe(0);
  }, 120_000);
});
