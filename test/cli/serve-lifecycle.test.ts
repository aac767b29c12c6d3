/**
 * `dpopkit serve` as a fleet member, as a real process: the admin listener's `/healthz` and
 * `/readyz` (503 naming the replay cache while Redis is cut off through a TCP proxy, 200 again
 * after), and graceful shutdown (SIGTERM while a request is in flight: it completes, exit 0).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dpopKey, postForm } from '../authorization-server/support/harness.js';
import { dropPrefix, uniquePrefix } from '../support/redis.js';
import { freePort, freePorts, startServe, writeDemoConfig, type ServeProcess } from '../support/serve-process.js';
import { createTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const SERVICE = `Basic ${Buffer.from('demo-service:demo-service-secret-change-me').toString('base64')}`;

describe('dpopkit serve: health, readiness and graceful shutdown', () => {
  let dir: string;
  let proxy: TcpProxy;
  let serve: ServeProcess;
  let admin: string;
  let asPort: number;
  let demoPort: number;
  let apiUrl: string;
  const prefix = uniquePrefix('lifecycle');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpopkit-lifecycle-'));
    proxy = await createTcpProxy(6379);
    const ports = { ...(await freePorts()), admin: await freePort() };
    asPort = ports.as;
    demoPort = ports.demo;
    admin = `http://127.0.0.1:${ports.admin}`;
    const file = writeDemoConfig(dir, ports, (config) => {
      config.authorizationServer.storage = { type: 'pglite' };
      // Only the clients and user this test uses (the demo configuration grows other ones).
      config.authorizationServer.clients = config.authorizationServer.clients.filter((c: { clientId: string }) => ['demo-spa', 'demo-service'].includes(c.clientId));
      config.authorizationServer.users = config.authorizationServer.users.filter((u: { username: string }) => u.username === 'alice');
      config.authorizationServer.replayCache = { type: 'redis', url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: prefix };
      delete config.demo;
    });
    serve = await startServe(file, ports, { DPOPKIT_LOG_FORMAT: 'json' });
    apiUrl = serve.api;
  }, 90_000);

  afterAll(async () => {
    if (serve?.child.exitCode === null) serve.child.kill('SIGKILL');
    await proxy?.close();
    await dropPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('/healthz is 200; /readyz is 200 when storage and both replay caches answer', async () => {
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    const ready = await fetch(`${admin}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { storage: 'ok', replayCache: 'ok', apiReplayCache: 'ok' } });
  });

  it('/readyz is 503 naming the replay caches while Redis is cut off, and 200 again after', async () => {
    await proxy.close();
    const down = await fetch(`${admin}/readyz`);
    expect(down.status).toBe(503);
    const body = await down.json();
    expect(body.failed).toEqual(['replayCache', 'apiReplayCache']);
    expect(body.checks.storage).toBe('ok');
    expect((await fetch(`${admin}/healthz`)).status).toBe(200); // alive all the same

    await proxy.reopen();
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await fetch(`${admin}/readyz`)).status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
  }, 30_000);

  it('/metrics: requests by outcome and reason, replays, nonce challenges, latency histograms (request, proof, token), JWKS fetches', async () => {
    const token = `http://localhost:${asPort}/token`;
    const key = await dpopKey();
    const issued = await postForm(token, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: SERVICE, dpop: await key.proof(token) });
    expect(issued.status).toBe(200);
    const accessToken = (await issued.json()).access_token as string;
    const wrong = await postForm(token, { grant_type: 'client_credentials' }, { auth: basic('demo-service', 'not-the-secret-at-all') });
    expect(wrong.status).toBe(401);

    const call = async (proof: string) => fetch(apiUrl, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } });
    const challenge = await call(await key.proof(apiUrl, { htm: 'GET', accessToken }));
    expect(challenge.status).toBe(401); // use_dpop_nonce: the API's nonces are on
    const nonce = challenge.headers.get('dpop-nonce')!;
    const proof = await key.proof(apiUrl, { htm: 'GET', accessToken, nonce });
    expect((await call(proof)).status).toBe(200);
    expect((await call(proof)).status).toBe(401); // the same proof again: a replay

    const scrape = await fetch(`${admin}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await scrape.text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(text).toContain('# TYPE dpopkit_as_requests_total counter');
    expect(value('dpopkit_as_requests_total{endpoint="token",outcome="ok"}')).toBe(1);
    expect(value('dpopkit_as_requests_total{endpoint="token",outcome="refused"}')).toBe(1);
    expect(text).toMatch(/^dpopkit_as_refusals_total\{endpoint="token",error="invalid_client",reason="[a-z_]+"\} 1$/m);
    expect(value('dpopkit_rs_requests_total{outcome="accepted"}')).toBe(1);
    expect(value('dpopkit_rs_requests_total{outcome="refused"}')).toBe(2);
    expect(value('dpopkit_rs_refusals_total{reason="replayed"}')).toBe(1);
    expect(value('dpopkit_rs_replays_total')).toBe(1);
    expect(value('dpopkit_rs_nonce_challenges_total')).toBe(1);
    expect(value('dpopkit_rs_request_seconds_count')).toBe(3);
    expect(value('dpopkit_rs_request_seconds_bucket{le="+Inf"}')).toBe(3);
    // Proof and token timed apart: three tokens checked, of which two proofs reached (the
    // challenged one was refused for its nonce, the replay by the replay cache).
    expect(value('dpopkit_rs_token_verify_seconds_count{kind="jwt",outcome="ok"}')).toBe(3);
    expect(value('dpopkit_rs_proof_verify_seconds_count{outcome="ok"}')).toBe(1);
    expect(value('dpopkit_rs_proof_verify_seconds_count{outcome="refused"}')).toBe(2);
    expect(value('dpopkit_rs_jwks_fetches_total{reason="initial",outcome="ok"}')).toBe(1);
    expect(value('dpopkit_as_request_seconds_count{endpoint="token"}')).toBe(2);
    expect(value('dpopkit_replay_cache_seconds_count{cache="authorization-server",op="reserve"}')).toBe(1);
    expect(value('dpopkit_replay_cache_seconds_count{cache="api",op="reserve"}')).toBe(2);
    expect(text).toMatch(/^dpopkit_storage_seconds_count\{op="\w+"\} [1-9]/m);
  });

  it('/metrics: a replayed proof at the token endpoint counts as an AS replay; a throttled sign-in as a throttled attempt (and its block)', async () => {
    const scrape = async () => {
      const text = await (await fetch(`${admin}/metrics`)).text();
      return (series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        return line === undefined ? 0 : Number(line.slice(series.length + 1));
      };
    };
    const before = await scrape();

    const token = `http://localhost:${asPort}/token`;
    const key = await dpopKey();
    const proof = await key.proof(token);
    const first = await postForm(token, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: SERVICE, dpop: proof });
    expect(first.status).toBe(200);
    const again = await postForm(token, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: SERVICE, dpop: proof });
    expect(again.status).toBe(400);
    expect((await again.json()).error_description).toMatch(/^replayed/);

    // The sign-in form, then wrong passwords for one (unknown) username until the throttle blocks it.
    const page = await fetch(`http://localhost:${asPort}/authorize?${new URLSearchParams({
      response_type: 'code', client_id: 'demo-spa', redirect_uri: `http://localhost:${demoPort}/callback`,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', scope: 'api:read',
    })}`, { redirect: 'manual' });
    expect(page.status).toBe(200);
    const html = await page.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const action = /action="([^"]+)"/.exec(html)![1]!.replace(/&#38;/g, '&');
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const seen: number[] = [];
    while (!seen.includes(429) && seen.length < 10) {
      const res = await postForm(action, { csrf, username: 'mallory', password: `guess-${seen.length}`, action: 'login' }, { headers: { cookie } });
      await res.text();
      seen.push(res.status);
    }
    expect(seen.at(-1)).toBe(429);
    expect(seen.slice(0, -1).every((s) => s === 401)).toBe(true);

    const after = await scrape();
    const delta = (series: string) => after(series) - before(series);
    expect(delta('dpopkit_as_replays_total{endpoint="token"}')).toBe(1);
    expect(delta('dpopkit_as_refusals_total{endpoint="token",error="invalid_dpop_proof",reason="replayed"}')).toBe(1);
    expect(delta('dpopkit_throttled_total{endpoint="login"}')).toBe(1);
    expect(delta('dpopkit_as_requests_total{endpoint="login",outcome="throttled"}')).toBe(1);
    expect(delta('dpopkit_throttle_blocks_total{counter="username"}')).toBe(1);
  }, 30_000);

  it('SIGTERM while a request is in flight: the request completes, then exit 0', async () => {
    const body = 'grant_type=client_credentials&scope=api%3Aread';
    const socket = net.connect(asPort, '127.0.0.1');
    await new Promise<void>((ok, fail) => socket.once('connect', ok).once('error', fail));
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    const ended = new Promise<void>((done) => socket.once('close', () => done()));
    // Headers and half the body: the server is reading this request when the signal comes.
    socket.write(`POST /token HTTP/1.1\r\nHost: localhost:${asPort}\r\nAuthorization: ${SERVICE}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    await new Promise((r) => setTimeout(r, 300));
    const exited = serve.stop();
    await new Promise((r) => setTimeout(r, 700));
    expect(serve.child.exitCode).toBeNull(); // still waiting for the request
    // New connections are refused already.
    await expect(fetch(`http://127.0.0.1:${asPort}/.well-known/oauth-authorization-server`)).rejects.toThrow();
    socket.write(body.slice(10));
    await ended;
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('"access_token"');
    expect(await exited).toBe(0);
  }, 30_000);
});

describe('dpopkit serve: the shutdown bound', () => {
  it('a request still in flight after shutdownTimeout: exit 1, not a hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpopkit-lifecycle-bound-'));
    const ports = await freePorts();
    const file = writeDemoConfig(dir, ports, (config) => {
      config.authorizationServer.storage = { type: 'pglite' };
      config.authorizationServer.clients = config.authorizationServer.clients.filter((c: { clientId: string }) => ['demo-spa', 'demo-service'].includes(c.clientId));
      config.authorizationServer.users = config.authorizationServer.users.filter((u: { username: string }) => u.username === 'alice');
      config.shutdownTimeout = 1;
      delete config.api;
      delete config.demo;
    });
    const serve = await startServe(file, ports, { DPOPKIT_LOG_FORMAT: 'json' });
    try {
      const socket = net.connect(ports.as, '127.0.0.1');
      await new Promise<void>((ok, fail) => socket.once('connect', ok).once('error', fail));
      socket.on('error', () => {});
      // A body that never finishes.
      socket.write(`POST /token HTTP/1.1\r\nHost: localhost:${ports.as}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=`);
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      const code = await serve.stop();
      expect(code).toBe(1);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(serve.stderr()).toContain('shutdownTimeout');
      socket.destroy();
    } finally {
      if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
