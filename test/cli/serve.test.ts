/**
 * `dpopkit serve` (what `npm start` runs), as a user meets it: a real child process on the shipped
 * demo configuration. The authorization server issues a DPoP-bound token by client credentials,
 * the demo API accepts it with a proof (after its nonce challenge) and refuses it without one,
 * the demo page is served with its configuration, `dpopkit request` works against it, a restart
 * on the same PGlite data directory keeps the signing key, and a bad configuration is refused
 * at start naming the key.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createDPoPClient, discover, generateKeyPair, type TokenResponse } from '../../src/client/index.js';
import { findChallenge } from '../../src/core/challenge.js';
import { CLI, ROOT, freePorts, startServe, writeDemoConfig, type ServePorts, type ServeProcess } from '../support/serve-process.js';

const run = promisify(execFile);
const SECRET = 'demo-service-secret-change-me';

describe('dpopkit serve (npm start)', () => {
  let dir: string;
  let ports: ServePorts;
  let config: string;
  let serve: ServeProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpopkit-serve-'));
    ports = await freePorts();
    config = writeDemoConfig(dir, ports);
    // Human log lines at debug level (the child's stdout is no terminal, so JSON is the default).
    serve = await startServe(config, ports, { DPOPKIT_DATA_DIR: join(dir, 'data'), DPOPKIT_LOG_FORMAT: 'pretty', DPOPKIT_LOG_LEVEL: 'debug' });
  }, 90_000);

  afterAll(async () => {
    await serve?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the three URLs and the authorization server publishes its metadata (RFC 8414)', async () => {
    expect(serve.output()).toContain(`authorization server  ${serve.issuer}`);
    expect(serve.output()).toContain(`browser demo          ${serve.demo}`);
    const metadata = await discover(serve.issuer);
    expect(metadata.issuer).toBe(serve.issuer);
    expect(metadata.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'EdDSA']));
  });

  it('a DPoP-bound client-credentials token calls the API through its nonce challenge (RFC 9449 §5, §7, §9)', async () => {
    const proofs: string[] = [];
    const client = createDPoPClient({ key: await generateKeyPair('ES256'), onProof: (p) => proofs.push(p.url) });
    const metadata = await discover(serve.issuer);
    const token: TokenResponse = await clientCredentials(client, metadata, { clientId: 'demo-service', clientSecret: SECRET, scope: 'api:read' });
    expect(token.token_type).toBe('DPoP');
    const response = await client.fetch(serve.api, { accessToken: token.access_token });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ clientId: 'demo-service', scopes: ['api:read'], scheme: 'DPoP', jkt: await client.thumbprint() });
    // The API requires nonces: the first proof was answered with use_dpop_nonce, the retry passed.
    expect(proofs.filter((url) => url === serve.api)).toHaveLength(2);

    // The same token without a proof, and as a Bearer token: refused (no downgrade, §7.2). This
    // API takes DPoP only, so the Bearer scheme is an unsupported method: a bare DPoP challenge
    // (RFC 6750 §3.1: no error code when the request lacks usable credentials).
    const bare = await fetch(serve.api, { headers: { authorization: `DPoP ${token.access_token}` } });
    expect(bare.status).toBe(401);
    expect(findChallenge(bare.headers.get('www-authenticate'), 'DPoP')?.params.error).toBe('invalid_dpop_proof');
    const bearer = await fetch(serve.api, { headers: { authorization: `Bearer ${token.access_token}` } });
    expect(bearer.status).toBe(401);
    const challenge = findChallenge(bearer.headers.get('www-authenticate'), 'DPoP');
    expect(challenge?.params.algs).toContain('ES256');
    expect(challenge?.params.error).toBeUndefined();
    expect(findChallenge(bearer.headers.get('www-authenticate'), 'Bearer')).toBeUndefined();
  });

  it('logs human lines (DPOPKIT_LOG_FORMAT=pretty); a nonce round trip is a debug "nonce challenge", never "request refused"', async () => {
    const out = serve.stdout();
    expect(out).toContain('dpopkit is running:\n'); // the banner, with the lines, on stdout
    // No nonce secret configured: a random one, and the log says what to set to share one.
    expect(out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  no nonce secret configured: using a random one, .*set DPOPKIT_NONCE_SECRET .*at least 32 bytes/m);
    expect(out.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
    expect(out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} DEBUG resource-server  dpop: nonce challenge \(use_dpop_nonce\)  (reqId=\S+ )?reason=nonce_missing error=use_dpop_nonce status=401 method=GET$/m);
    expect(out).not.toMatch(/request refused.*use_dpop_nonce/);
    // A real refusal (the token without a proof, above) is still an info line.
    expect(out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  resource-server  dpop: request refused  (reqId=\S+ )?reason=\w+ error=invalid_dpop_proof status=401/m);
  });

  it('the demo API accepts and advertises the proof algorithms of the authorization server (not every one dpopkit knows)', async () => {
    const configured = JSON.parse(readFileSync(config, 'utf8')).authorizationServer.dpop.algs as string[];
    const metadata = await discover(serve.issuer);
    expect(metadata.dpop_signing_alg_values_supported).toEqual(configured);
    const answer = await fetch(serve.api, { headers: { authorization: 'Bearer x' } });
    expect(findChallenge(answer.headers.get('www-authenticate'), 'DPoP')?.params.algs).toBe(configured.join(' '));
    // A proof signed with an algorithm the demo does not speak is refused at the API too.
    const token = await clientCredentials(createDPoPClient({ key: await generateKeyPair('ES256') }), metadata, { clientId: 'demo-service', clientSecret: SECRET, scope: 'api:read' });
    const other = createDPoPClient({ key: await generateKeyPair('ES384') });
    const refused = await fetch(serve.api, { headers: { authorization: `DPoP ${token.access_token}`, dpop: await other.proof('GET', serve.api, { accessToken: token.access_token }) } });
    expect(refused.status).toBe(401);
    expect(findChallenge(refused.headers.get('www-authenticate'), 'DPoP')?.params.error).toBe('invalid_dpop_proof');
  });

  it('the sign-in page: the demo look, the demo credentials as a hint (loginHint), an inline icon its CSP allows', async () => {
    const page = await fetch(authorizeUrl(serve), { redirect: 'manual' });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<p class="hint" role="note">Demo account: alice / wonderland</p>');
    expect(html).toContain('--accent:#2f5bea');
    const icon = /<link rel="icon" href="(data:image\/svg\+xml,[^"]+)">/.exec(html)?.[1];
    expect(icon).toBeDefined();
    expect(page.headers.get('content-security-policy')).toContain('img-src data:');
    expect((await fetch(serve.demo)).headers.get('content-security-policy')).toContain("img-src 'self' data:");
  });

  it('serves the demo page and its configuration, with a strict content security policy', async () => {
    const conf = await fetch(`${serve.demo}/config.json`);
    expect(await conf.json()).toEqual({ issuer: serve.issuer, api: serve.api, clientId: 'demo-spa', redirectUri: `${serve.demo}/callback`, scope: 'openid profile api:read' });
    const page = await fetch(`${serve.demo}/callback?code=x&state=y`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('`dpopkit request` gets a token by client credentials and calls the API', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'request', serve.api, '--token-endpoint', `${serve.issuer}/token`, '--client-id', 'demo-service', '--client-secret', SECRET, '--scope', 'api:read', '-i'], { cwd: ROOT });
    expect(stdout).toMatch(/^HTTP\/1\.1 200/m);
    expect(stdout).toContain('"clientId":"demo-service"');
  });

  it('a restart on the same data directory keeps the signing key: tokens issued before still work', async () => {
    const client = createDPoPClient({ key: await generateKeyPair('ES256') });
    const token = await clientCredentials(client, await discover(serve.issuer), { clientId: 'demo-service', clientSecret: SECRET, scope: 'api:read' });
    expect(await serve.stop()).toBe(0);
    serve = await startServe(config, ports, { DPOPKIT_DATA_DIR: join(dir, 'data') });
    const response = await client.fetch(serve.api, { accessToken: token.access_token });
    expect(response.status).toBe(200);

    // Its stdout is no terminal: JSON lines only (the URLs as an event), the banner on stderr.
    const lines = serve.stdout().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries).toContainEqual(expect.objectContaining({ level: 30, msg: 'dpopkit is running', issuer: serve.issuer, api: serve.api, demo: serve.demo }));
    expect(serve.stderr()).toContain(`dpopkit is running:\n  authorization server  ${serve.issuer}`);
  }, 90_000);

  it('a bad URL in the configuration names its key and what is wrong (exit 1)', async () => {
    const bad = writeDemoConfig(dir, ports, (c) => { c.authorizationServer.issuer = 'localhost 4000'; c.demo.url = '/demo'; });
    const failure = await run(process.execPath, [CLI, 'serve', '--config', bad], { cwd: ROOT }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toBe(
      `dpopkit: invalid configuration in ${bad}:\n` +
      '  authorizationServer.issuer: must be an absolute http:// or https:// URL (like http://localhost:4000), got "localhost 4000"\n' +
      '  demo.url: must be an absolute http:// or https:// URL (like http://localhost:4000), got "/demo"\n',
    );
  });

  it('a bad configuration stops the start with the bad key named (exit 1)', async () => {
    const bad = writeDemoConfig(dir, ports, (c) => { c.authorizationServer.tokens.accessTokenTtl = -5; c.api.bearr = 'allow'; });
    const failure = await run(process.execPath, [CLI, 'serve', '--config', bad], { cwd: ROOT }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('authorizationServer.tokens.accessTokenTtl: Number must be greater than 0');
    expect(failure?.stderr).toContain('api: unknown key(s) "bearr"');
  });
});

describe('dpopkit serve on PostgreSQL and a Redis replay cache (the fleet set-up)', () => {
  const schema = `dpopkit_serve_${process.pid}_${Date.now()}`;
  let dir: string;
  let serve: ServeProcess | undefined;

  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'dpopkit-serve-pg-')); });
  afterAll(async () => {
    await serve?.stop();
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: 'postgres://root@127.0.0.1:5432/test' });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('issues a DPoP token stored in PostgreSQL; a replayed API proof is refused through Redis', async () => {
    const ports = await freePorts();
    const config = writeDemoConfig(dir, ports, (c) => {
      c.authorizationServer.storage = { type: 'postgres', url: 'postgres://root@127.0.0.1:5432/test', schema };
      c.authorizationServer.replayCache = { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: `${schema}:` };
      c.api.dpop = { nonce: false };
      delete c.authorizationServer.loginHint;
      // Token-endpoint nonces on (RFC 9449 §8): the client's first proof is answered use_dpop_nonce.
      c.authorizationServer.dpop.nonce = {};
    });
    serve = await startServe(config, ports, { DPOPKIT_LOG_LEVEL: 'debug' });
    // No loginHint in the configuration: no hint on the sign-in page (it is off by default).
    const signIn = await (await fetch(authorizeUrl(serve), { redirect: 'manual' })).text();
    expect(signIn).toContain('<h1>Sign in</h1>');
    expect(signIn).not.toContain('class="hint"');
    const client = createDPoPClient({ key: await generateKeyPair('ES256') });
    const token = await clientCredentials(client, await discover(serve.issuer), { clientId: 'demo-service', clientSecret: SECRET, scope: 'api:read' });
    expect(token.token_type).toBe('DPoP');
    // The authorization server logs that nonce round trip at debug as a challenge, not as a refusal (JSON lines here).
    const entries = serve.stdout().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries).toContainEqual(expect.objectContaining({ level: 20, role: 'authorization-server', msg: 'nonce challenge (use_dpop_nonce)', error: 'use_dpop_nonce', endpoint: 'token' }));
    expect(entries.filter((e) => e.msg === 'request refused' && e.error === 'use_dpop_nonce')).toEqual([]);
    const proof = await client.proof('GET', serve.api, { accessToken: token.access_token });
    const headers = { authorization: `DPoP ${token.access_token}`, dpop: proof };
    expect((await fetch(serve.api, { headers })).status).toBe(200);
    const replay = await fetch(serve.api, { headers });
    expect(replay.status).toBe(401);
    expect(findChallenge(replay.headers.get('www-authenticate'), 'DPoP')?.params.error).toBe('invalid_dpop_proof');

    // The state really is where the configuration put it.
    const { Redis } = await import('ioredis');
    const redis = new Redis('redis://127.0.0.1:6379');
    const spent = await redis.keys(`${schema}:*`);
    // The replay-cache quota is counted next to the cache, for the whole fleet: the client's entry.
    const quota = await redis.zcard(`${schema}:quota:client:demo-service`);
    await redis.quit();
    expect(spent.length).toBeGreaterThanOrEqual(2); // the token request's proof and the API proof
    expect(quota).toBe(1);
    const pg = await import('pg');
    const db = new pg.default.Client({ connectionString: 'postgres://root@127.0.0.1:5432/test' });
    await db.connect();
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.signing_keys`);
    await db.end();
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
    // This Redis cannot evict (the test machine's: noeviction or no maxmemory): no warning about it.
    const admin = new Redis('redis://127.0.0.1:6379');
    const settings = await redisMemorySettings(admin);
    await admin.quit();
    if (settings.maxmemory === '0' || settings.policy === 'noeviction') expect(entries.filter((e) => e.redis !== undefined)).toEqual([]);
  }, 90_000);

  it('warns at start, once per Redis server and naming both replay caches, when that Redis may evict keys (maxmemory-policy other than noeviction)', async () => {
    const { Redis } = await import('ioredis');
    const admin = new Redis('redis://127.0.0.1:6379');
    const before = await redisMemorySettings(admin);
    let evicting: ServeProcess | undefined;
    try {
      // A limit far above what the tests use, so nothing is evicted meanwhile, and an LRU policy.
      await admin.call('CONFIG', 'SET', 'maxmemory', String(4 * 1024 ** 3));
      await admin.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
      const ports = await freePorts();
      const config = writeDemoConfig(dir, ports, (c) => {
        c.authorizationServer.storage = { type: 'pglite', dataDir: join(dir, `data-${ports.as}`) };
        c.authorizationServer.replayCache = { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: `${schema}:evict:` };
      });
      evicting = await startServe(config, ports);
      const warnings = evicting.stdout().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => e.redis !== undefined);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 40, redis: '127.0.0.1:6379', replayCaches: ['authorization-server', 'api'], maxmemoryPolicy: 'allkeys-lru', maxmemory: 4 * 1024 ** 3 });
      expect(warnings[0]!.msg).toContain('maxmemory-policy allkeys-lru');
      expect(warnings[0]!.msg).toContain('Set maxmemory-policy noeviction');
    } finally {
      await evicting?.stop();
      await admin.call('CONFIG', 'SET', 'maxmemory-policy', before.policy);
      await admin.call('CONFIG', 'SET', 'maxmemory', before.maxmemory);
      await admin.quit();
    }
  }, 90_000);
});

/** `maxmemory` and `maxmemory-policy` of a Redis, as CONFIG GET answers them (pairs, in no fixed order). */
async function redisMemorySettings(redis: { call(...args: string[]): Promise<unknown> }): Promise<{ maxmemory: string; policy: string }> {
  const reply = (await redis.call('CONFIG', 'GET', 'maxmemory', 'maxmemory-policy')) as string[];
  const settings = new Map<string, string>();
  for (let i = 0; i + 1 < reply.length; i += 2) settings.set(reply[i]!, reply[i + 1]!);
  return { maxmemory: settings.get('maxmemory')!, policy: settings.get('maxmemory-policy')! };
}

/** An authorization request of the demo's public client (PKCE S256), leading to the sign-in page. */
function authorizeUrl(serve: ServeProcess): string {
  const url = new URL('/authorize', serve.issuer);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: 'demo-spa', redirect_uri: `${serve.demo}/callback`, scope: 'openid profile api:read',
    state: 's'.repeat(16), code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
  }).toString();
  return url.href;
}

/** Whether nothing listens on this port of 127.0.0.1 right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

describe('npx dpopkit serve in a project that installed dpopkit (no --config)', () => {
  it('finds the demo configuration shipped with the package, whatever the working directory', async () => {
    const project = mkdtempSync(join(tmpdir(), 'dpopkit-project-'));
    const help = await run(process.execPath, [CLI, 'serve', '--help'], { cwd: project });
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(`(default: "${join(ROOT, 'examples', 'demo.config.json')}")`);
    // The shipped configuration listens on 4000-4002: it either starts, or (when a developer's
    // `npm start` holds those ports) fails on a port, never on a missing file.
    const free = (await Promise.all([4000, 4001, 4002].map(portFree))).every(Boolean);
    const env = { ...process.env, DPOPKIT_DATA_DIR: join(project, 'data'), NO_COLOR: '1' };
    delete env.DPOPKIT_CONFIG;
    const child = spawn(process.execPath, [CLI, 'serve'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 60_000;
    while (!out.includes('Press Ctrl+C to stop.') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (child.exitCode === null) child.kill('SIGTERM');
    const code = await exited;
    rmSync(project, { recursive: true, force: true });
    expect(out).not.toContain('cannot read the file');
    if (free) {
      expect(out).toContain('authorization server  http://localhost:4000');
      expect(code).toBe(0);
    } else {
      expect(out).toMatch(/dpopkit: cannot listen for http:\/\/localhost:400[0-2]: port 400[0-2] is already in use/);
    }
  }, 90_000);
});
