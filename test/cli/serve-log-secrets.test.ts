/**
 * `dpopkit serve`'s logs carry request ids and never a secret. A full flow runs through the real
 * process with every log level on (trace, JSON lines): client credentials, authorization code
 * with PKCE, API calls (a nonce challenge, an accepted call, a replay refused), a sign-in form
 * post with a wrong password, a refresh. The captured output is then searched for every access
 * token, refresh token, proof (and each proof's signature), authorization code, PKCE verifier,
 * password and client secret: none may appear. Each request's id is echoed in its response and
 * found on the lines of both roles.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dpopKey, pkce, postForm, signIn } from '../authorization-server/support/harness.js';
import { freePorts, startServe, writeDemoConfig, type ServeProcess } from '../support/serve-process.js';

const CLIENT_SECRET = 'demo-service-secret-change-me';
const PASSWORD = 'wonderland';
const WRONG_PASSWORD = 'not-wonderland-7f3a9c';

describe('dpopkit serve: request ids in the logs, never a secret', () => {
  let dir: string;
  let serve: ServeProcess;
  let issuer: string;
  let redirectUri: string;
  const secrets: Record<string, string> = { CLIENT_SECRET, PASSWORD, WRONG_PASSWORD };
  const headers: Record<string, string | null> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpopkit-log-secrets-'));
    const ports = await freePorts();
    issuer = `http://localhost:${ports.as}`;
    redirectUri = `http://localhost:${ports.demo}/callback`;
    const file = writeDemoConfig(dir, ports, (config) => {
      config.authorizationServer.storage = { type: 'pglite' };
      // Only the clients and user this test uses (the demo configuration grows other ones).
      config.authorizationServer.clients = config.authorizationServer.clients.filter((c: { clientId: string }) => ['demo-spa', 'demo-service'].includes(c.clientId));
      config.authorizationServer.users = config.authorizationServer.users.filter((u: { username: string }) => u.username === 'alice');
      delete config.demo;
    });
    serve = await startServe(file, ports, { DPOPKIT_LOG_FORMAT: 'json', DPOPKIT_LOG_LEVEL: 'trace' });
  }, 90_000);

  afterAll(() => {
    if (serve?.child.exitCode === null) serve.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the flow', async () => {
    const token = `${issuer}/token`;
    const key = await dpopKey();
    const proofs: string[] = [];
    const proof = async (htu: string, extra: Parameters<typeof key.proof>[1] = {}) => {
      const p = await key.proof(htu, extra);
      proofs.push(p);
      return p;
    };

    // Client credentials, with our own request id.
    const service = await postForm(token, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: basic('demo-service', CLIENT_SECRET), dpop: await proof(token), headers: { 'x-request-id': 'test-req-service' } });
    expect(service.status).toBe(200);
    headers.service = service.headers.get('x-request-id');
    secrets.SERVICE_ACCESS_TOKEN = (await service.json()).access_token;

    // Authorization code with PKCE.
    const { verifier, challenge } = pkce();
    secrets.PKCE_VERIFIER = verifier;
    const query = { response_type: 'code', client_id: 'demo-spa', redirect_uri: redirectUri, scope: 'openid profile api:read', code_challenge: challenge, code_challenge_method: 'S256', state: 'st-123' };
    const redirect = await signIn(issuer, query, { username: 'alice', password: PASSWORD });
    const code = redirect.get('code')!;
    secrets.CODE = code;
    const issued = await postForm(token, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: 'demo-spa', code_verifier: verifier }, { dpop: await proof(token) });
    expect(issued.status).toBe(200);
    headers.generated = issued.headers.get('x-request-id');
    const tokens = await issued.json();
    secrets.ACCESS_TOKEN = tokens.access_token;
    secrets.REFRESH_TOKEN = tokens.refresh_token;
    expect(secrets.REFRESH_TOKEN).toBeTruthy();

    // The API: nonce challenge, accepted, then the same proof again (refused as a replay).
    const call = (p: string, id?: string) => fetch(serve.api, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: p, ...(id ? { 'x-request-id': id } : {}) } });
    const api = serve.api;
    const challenged = await call(await proof(api, { htm: 'GET', accessToken: tokens.access_token }));
    expect(challenged.status).toBe(401);
    const nonce = challenged.headers.get('dpop-nonce')!;
    const good = await proof(api, { htm: 'GET', accessToken: tokens.access_token, nonce });
    const accepted = await call(good, 'test-req-api');
    expect(accepted.status).toBe(200);
    headers.api = accepted.headers.get('x-request-id');
    const replayed = await call(good, 'bad id with spaces');
    expect(replayed.status).toBe(401);
    headers.insane = replayed.headers.get('x-request-id');

    // A sign-in form post with a wrong password: refused (the form again, no redirect).
    await expect(signIn(issuer, { ...query, code_challenge: pkce().challenge }, { username: 'alice', password: WRONG_PASSWORD })).rejects.toThrow(/login answered/);

    // A refresh.
    const refreshed = await postForm(token, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'demo-spa' }, { dpop: await proof(token) });
    expect(refreshed.status).toBe(200);
    const again = await refreshed.json();
    secrets.REFRESHED_ACCESS_TOKEN = again.access_token;
    secrets.ROTATED_REFRESH_TOKEN = again.refresh_token ?? tokens.refresh_token;

    proofs.forEach((p, i) => {
      secrets[`PROOF_${i}`] = p;
      secrets[`PROOF_${i}_SIGNATURE`] = p.split('.')[2]!;
    });
    expect(await serve.stop()).toBe(0);
  }, 60_000);

  it('echoes the request id: the caller\'s when sane, else a fresh one', () => {
    expect(headers.service).toBe('test-req-service');
    expect(headers.api).toBe('test-req-api');
    expect(headers.generated).toMatch(/^[0-9a-f-]{36}$/);
    expect(headers.insane).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs lines of both roles with the request id', () => {
    const lines = serve.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const of = (reqId: string) => lines.filter((l) => l.reqId === reqId);
    expect(of('test-req-service').some((l) => l.role === 'authorization-server' && l.msg === 'request done' && l.path === '/token' && l.status === 200)).toBe(true);
    expect(of('test-req-api').some((l) => l.role === 'resource-server' && l.msg === 'request done' && l.status === 200)).toBe(true);
    // A refusal logged by the library inside the request carries its id too.
    expect(lines.some((l) => l.role === 'resource-server' && l.reqId === headers.insane && l.msg !== 'request done')).toBe(true);
  });

  it('never logs a token, a proof, a code, a verifier, a password or a client secret', () => {
    const output = serve.output();
    expect(output.length).toBeGreaterThan(1000);
    const found = Object.entries(secrets).filter(([, value]) => value && output.includes(value)).map(([name]) => name);
    expect(found).toEqual([]);
  });
});
