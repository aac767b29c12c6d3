/**
 * `dpopkit serve` (what `npm start` runs), as a user meets it: a real child process on the shipped
 * demo configuration. The authorization server issues a DPoP-bound token by client credentials,
 * the demo API accepts it with a proof (after its nonce challenge) and refuses it without one,
 * the demo page is served with its configuration, `dpopkit request` works against it, a restart
 * on the same PGlite data directory keeps the signing key, and a bad configuration is refused
 * at start naming the key.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
    serve = await startServe(config, ports, { DPOPKIT_DATA_DIR: join(dir, 'data') });
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
  }, 90_000);

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
      c.api.nonce = false;
    });
    serve = await startServe(config, ports);
    const client = createDPoPClient({ key: await generateKeyPair('ES256') });
    const token = await clientCredentials(client, await discover(serve.issuer), { clientId: 'demo-service', clientSecret: SECRET, scope: 'api:read' });
    expect(token.token_type).toBe('DPoP');
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
    await redis.quit();
    expect(spent.length).toBeGreaterThanOrEqual(2); // the token request's proof and the API proof
    const pg = await import('pg');
    const db = new pg.default.Client({ connectionString: 'postgres://root@127.0.0.1:5432/test' });
    await db.connect();
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.signing_keys`);
    await db.end();
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
