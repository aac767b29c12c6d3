/**
 * Fault: PostgreSQL goes away under load and comes back. `dpopkit serve` runs as a real process
 * with its storage reached through a TCP proxy the test closes (every connection reset, new ones
 * refused) and reopens.
 *
 * Expected: while the database is away, token requests are answered 503 with `Retry-After`
 * (never a 500, never a hang, never a crash); nothing is issued half-way: every code whose
 * redemption was answered 503 is still unused and redeems once the database is back, and every
 * refresh token handed out refreshes (its family was stored with it); the process recovers
 * without a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dpopKey, pkce, PG_URL, postForm, signIn, type DPoPKey, dropSchemas } from '../authorization-server/support/harness.js';
import { freePorts, startServe, writeDemoConfig, type ServeProcess } from '../support/serve-process.js';
import { createTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const SERVICE = basic('demo-service', 'demo-service-secret-change-me');
const SCHEMA = `outage_${Math.random().toString(36).slice(2, 8)}`;

describe('fault: PostgreSQL stopped and started again under load', () => {
  let dir: string;
  let proxy: TcpProxy;
  let serve: ServeProcess;
  let token: string;
  let redirectUri: string;
  let key: DPoPKey;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpopkit-pg-outage-'));
    proxy = await createTcpProxy(Number(new URL(PG_URL).port || 5432), new URL(PG_URL).hostname);
    const ports = await freePorts();
    token = `http://localhost:${ports.as}/token`;
    redirectUri = `http://localhost:${ports.demo}/callback`;
    const url = new URL(PG_URL);
    url.port = String(proxy.port);
    url.hostname = '127.0.0.1';
    const file = writeDemoConfig(dir, ports, (config) => {
      config.authorizationServer.clients = config.authorizationServer.clients.filter((c: { clientId: string }) => ['demo-spa', 'demo-service'].includes(c.clientId));
      config.authorizationServer.users = config.authorizationServer.users.filter((u: { username: string }) => u.username === 'alice');
      config.authorizationServer.storage = { type: 'postgres', url: url.href, schema: SCHEMA };
      config.authorizationServer.throttle = { enabled: false };
      delete config.api;
      delete config.demo;
    });
    serve = await startServe(file, ports, { DPOPKIT_LOG_FORMAT: 'json', DPOPKIT_LOG_LEVEL: 'warn' });
    key = await dpopKey();
  }, 90_000);

  afterAll(async () => {
    if (serve?.child.exitCode === null) serve.child.kill('SIGKILL');
    await proxy?.close();
    await dropSchemas(SCHEMA);
    rmSync(dir, { recursive: true, force: true });
  });

  const redeem = async (code: string, verifier: string) =>
    postForm(token, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: 'demo-spa', code_verifier: verifier }, { dpop: await key.proof(token) });
  const clientCredentials = async () => postForm(token, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: SERVICE, dpop: await key.proof(token) });

  it('503 + Retry-After while away, nothing half-issued, recovery without restart', async () => {
    // Codes obtained while the database is up, redeemed while it is away.
    const codes: Array<{ code: string; verifier: string }> = [];
    for (let i = 0; i < 4; i++) {
      const { verifier, challenge } = pkce();
      const query = { response_type: 'code', client_id: 'demo-spa', redirect_uri: redirectUri, scope: 'openid api:read', code_challenge: challenge, code_challenge_method: 'S256', state: `s${i}` };
      codes.push({ code: (await signIn(serve.issuer, query, { username: 'alice', password: 'wonderland' })).get('code')!, verifier });
    }

    // Refresh tokens handed out while the database is up, refreshed while it is away.
    const refreshTokens: string[] = [];
    for (const { code, verifier } of codes.splice(2)) refreshTokens.push((await (await redeem(code, verifier)).json()).refresh_token);
    expect(refreshTokens.every(Boolean)).toBe(true);
    const refresh = async (refreshToken: string) => postForm(token, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'demo-spa' }, { dpop: await key.proof(token) });

    // Load across the outage: client credentials (no database) and redemptions of unknown
    // codes (one lookup each: 400 while up, 503 while away).
    const statuses = new Map<string, number>();
    let missingRetryAfter = 0;
    let running = true;
    const loop = (kind: 'cc' | 'code') => async () => {
      while (running) {
        const res = await (kind === 'cc' ? clientCredentials() : redeem(`unknown-${Math.random()}`, 'x'.repeat(43))).catch(() => undefined);
        if (!res) continue;
        const k = `${kind}:${res.status}`;
        statuses.set(k, (statuses.get(k) ?? 0) + 1);
        if (res.status === 503 && !res.headers.get('retry-after')) missingRetryAfter++;
        await res.arrayBuffer();
      }
    };
    const loops = [loop('cc')(), loop('cc')(), loop('code')(), loop('code')()];
    await new Promise((r) => setTimeout(r, 1000));

    await proxy.close(); // PostgreSQL "stops"
    await new Promise((r) => setTimeout(r, 1500));
    const during = [...(await Promise.all(codes.map(({ code, verifier }) => redeem(code, verifier)))), ...(await Promise.all(refreshTokens.map(refresh)))];
    for (const res of during) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await res.json()).error).toBe('temporarily_unavailable');
    }
    await proxy.reopen(); // … and starts again

    // Recovery, same process: the loops see 200 again.
    const deadline = Date.now() + 20_000;
    let recovered = false;
    while (Date.now() < deadline && !recovered) {
      const res = await clientCredentials();
      recovered = res.status === 200;
      await res.arrayBuffer();
      if (!recovered) await new Promise((r) => setTimeout(r, 250));
    }
    running = false;
    await Promise.all(loops);
    expect(recovered).toBe(true);
    expect(serve.child.exitCode).toBeNull();

    // Client credentials: 200 throughout (or 503); unknown codes: 400 while up, 503 while away,
    // never a 500; every 503 with Retry-After.
    expect([...statuses.keys()].filter((k) => !['cc:200', 'cc:503', 'code:400', 'code:503'].includes(k))).toEqual([]);
    expect(statuses.get('code:503') ?? 0).toBeGreaterThan(0);
    expect(statuses.get('code:400') ?? 0).toBeGreaterThan(0);
    expect(statuses.get('cc:200') ?? 0).toBeGreaterThan(0);
    expect(missingRetryAfter).toBe(0);
    console.log('outage load statuses', Object.fromEntries(statuses));

    // The refresh tokens answered 503 were not rotated: each still refreshes, once.
    for (const refreshToken of refreshTokens) expect((await refresh(refreshToken)).status).toBe(200);

    // Nothing half-way: the codes answered 503 were not consumed, and their tokens come with a
    // refresh family that works.
    for (const { code, verifier } of codes) {
      const res = await redeem(code, verifier);
      expect(res.status).toBe(200);
      const body = await res.json();
      const refreshed = await postForm(token, { grant_type: 'refresh_token', refresh_token: body.refresh_token, client_id: 'demo-spa' }, { dpop: await key.proof(token) });
      expect(refreshed.status).toBe(200);
      // … and a code is still single-use.
      expect((await redeem(code, verifier)).status).toBe(400);
    }
  }, 120_000);
});
