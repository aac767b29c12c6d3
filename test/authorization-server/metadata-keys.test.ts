/**
 * Metadata (RFC 8414), JWKS and signing-key rotation, CORS for browser clients, an issuer with a
 * path, and a restart on a PGlite data directory ("a restart loses nothing").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { basic, decodeJwt, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type Running } from './support/harness.js';

describe.each(STORAGES)('metadata, keys and CORS on $name', (factory) => {
  let server: Running;
  let cleanup: () => Promise<void>;
  let skew = 0;

  beforeAll(async () => {
    const opened = await factory.open();
    cleanup = opened.cleanup;
    server = await startServer(opened.storage, {
      clock: () => Date.now() / 1000 + skew,
      signingKeys: { alg: 'ES256', rotateAfter: 120, publishAhead: 30 },
      corsOrigins: ['http://localhost:4002'],
      dpop: { algs: ['ES256', 'EdDSA'] },
    });
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it('RFC 8414 §3: metadata at both well-known URLs lists every endpoint and exactly what is supported', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const res = await fetch(server.url + path);
      expect(res.status).toBe(200);
      const m = await res.json();
      const u = server.url;
      expect(m).toMatchObject({
        issuer: u,
        authorization_endpoint: `${u}/authorize`,
        token_endpoint: `${u}/token`,
        pushed_authorization_request_endpoint: `${u}/par`,
        introspection_endpoint: `${u}/introspect`,
        revocation_endpoint: `${u}/revoke`,
        jwks_uri: `${u}/jwks`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
        code_challenge_methods_supported: ['S256'],
        dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
        authorization_response_iss_parameter_supported: true,
        scopes_supported: ['read', 'write'],
      });
      expect(m.token_endpoint_auth_methods_supported.sort()).toEqual(['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt']);
      expect(m.token_endpoint_auth_signing_alg_values_supported).toContain('ES256');
      expect(m.token_endpoint_auth_signing_alg_values_supported).not.toContain('HS256');
    }
  });

  it('RFC 7517 + rotation: a successor key is published publishAhead before it signs; the old one stays until its tokens expire', async () => {
    const jwks = async () => (await (await fetch(`${server.url}/jwks`)).json()).keys as { kid: string; alg: string; use: string; d?: string }[];
    const issue = async () => {
      const res = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET) });
      return (await res.json()).access_token as string;
    };
    const first = await jwks();
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ alg: 'ES256', use: 'sig', kty: 'EC' });
    expect(first[0]!.d).toBeUndefined();
    const a = first[0]!.kid;
    expect(decodeJwt(await issue()).header.kid).toBe(a);

    skew = 95; // within publishAhead of retirement: B is published, A still signs
    const ahead = await jwks();
    expect(ahead.map((k) => k.kid)).toContain(a);
    expect(ahead).toHaveLength(2);
    const b = ahead.find((k) => k.kid !== a)!.kid;
    const signedByA = await issue();
    expect(decodeJwt(signedByA).header.kid).toBe(a);

    skew = 125; // B signs; A is still published and its tokens still introspect
    expect(decodeJwt(await issue()).header.kid).toBe(b);
    expect((await jwks()).map((k) => k.kid)).toContain(a);
    const intro = await postForm(`${server.url}/introspect`, { token: signedByA }, { auth: basic('confidential', SECRET) });
    expect((await intro.json()).active).toBe(true);

    skew = 120 + 600 + 61 + 1; // every token A signed has expired: A is gone
    expect((await jwks()).map((k) => k.kid)).not.toContain(a);
    skew = 0;
  });

  it('CORS (browser clients): preflight allows DPoP; responses expose DPoP-Nonce and WWW-Authenticate; other origins get nothing', async () => {
    const pre = await fetch(`${server.url}/token`, { method: 'OPTIONS', headers: { origin: 'http://localhost:4002', 'access-control-request-method': 'POST', 'access-control-request-headers': 'dpop, content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://localhost:4002');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/DPoP/);
    expect(pre.headers.get('access-control-allow-methods')).toBe('POST');
    const res = await postForm(`${server.url}/token`, { grant_type: 'nope' }, { headers: { origin: 'http://localhost:4002' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:4002');
    expect(res.headers.get('access-control-expose-headers')).toMatch(/DPoP-Nonce/);
    expect(res.headers.get('access-control-expose-headers')).toMatch(/WWW-Authenticate/);
    const evil = await fetch(`${server.url}/token`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    for (const path of ['/jwks', '/.well-known/oauth-authorization-server']) {
      const r = await fetch(server.url + path, { headers: { origin: 'http://localhost:4002' } });
      expect(r.headers.get('access-control-allow-origin')).toBe('http://localhost:4002');
    }
    const authorize = await fetch(`${server.url}/authorize?client_id=spa`, { headers: { origin: 'http://localhost:4002' } });
    expect(authorize.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('restart on a PGlite data directory', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dpopkit-as-restart-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('tokens and refresh tokens issued before a restart still introspect and refresh; JWKS keeps the key', async () => {
    // A fixed public issuer (as behind a proxy): proofs name it, whatever port the process has.
    const issuer = 'https://as.example.test';
    const key = await dpopKey();
    const htu = `${issuer}/token`;

    let storage = createPGliteStorage({ dataDir });
    let s = await startServer(storage, { issuer });
    const cc = await (await postForm(`${s.url}/token`, { grant_type: 'client_credentials', scope: 'read' }, { auth: basic('confidential', SECRET), dpop: await key.proof(htu) })).json();
    expect(cc.token_type).toBe('DPoP');
    const p = pkce();
    const back = await signIn(s.url, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256', dpop_jkt: key.jkt });
    const code = await (await postForm(`${s.url}/token`, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' }, { dpop: await key.proof(htu) })).json();
    expect(code.refresh_token).toBeTruthy();
    const kidsBefore = (await (await fetch(`${s.url}/jwks`)).json()).keys.map((k: { kid: string }) => k.kid);
    await s.close();
    await storage.close();

    storage = createPGliteStorage({ dataDir });
    s = await startServer(storage, { issuer });
    try {
      const kidsAfter = (await (await fetch(`${s.url}/jwks`)).json()).keys.map((k: { kid: string }) => k.kid);
      expect(kidsAfter).toEqual(kidsBefore);
      const intro = await (await postForm(`${s.url}/introspect`, { token: cc.access_token }, { auth: basic('confidential', SECRET) })).json();
      expect(intro).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
      const introRt = await (await postForm(`${s.url}/introspect`, { token: code.refresh_token }, { auth: basic('confidential', SECRET) })).json();
      expect(introRt).toMatchObject({ active: true, client_id: 'spa', sub: 'alice' });
      const refreshed = await postForm(`${s.url}/token`, { grant_type: 'refresh_token', refresh_token: code.refresh_token, client_id: 'spa' }, { dpop: await key.proof(htu) });
      expect(refreshed.status).toBe(200);
      const body = await refreshed.json();
      expect(decodeJwt(body.access_token).header.kid).toBe(kidsBefore[0]);
    } finally {
      await s.close();
      await storage.close();
    }
  });
});

describe('more servers on one PGlite storage', () => {
  let storage: ReturnType<typeof createPGliteStorage>;
  beforeAll(() => {
    storage = createPGliteStorage();
  });
  afterAll(async () => {
    await storage?.close();
  });

  it('RFC 8414 §3.1: with an issuer path, endpoints live under it; metadata at /.well-known/oauth-authorization-server/<path>', async () => {
    const s = await startServer(storage, {}, '/tenant-a');
    try {
      const m = await (await fetch(`${new URL(s.url).origin}/.well-known/oauth-authorization-server/tenant-a`)).json();
      expect(m.issuer).toBe(s.url);
      expect(m.token_endpoint).toBe(`${s.url}/token`);
      const key = await dpopKey();
      const res = await postForm(m.token_endpoint, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET), dpop: await key.proof(m.token_endpoint) });
      expect(res.status).toBe(200);
      const p = pkce();
      const back = await signIn(s.url, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' });
      expect(back.get('iss')).toBe(s.url);
    } finally {
      await s.close();
    }
  });

  it('the configuration is the source of truth: a client removed from it is refused although its record is stored', async () => {
    const { defaultClients } = await import('./support/harness.js');
    const first = await startServer(storage);
    await first.close();
    const s = await startServer(storage, { clients: defaultClients().filter((c) => c.clientId !== 'poster') });
    try {
      const res = await postForm(`${s.url}/token`, { grant_type: 'client_credentials', client_id: 'poster', client_secret: SECRET });
      expect([res.status, (await res.json()).error]).toEqual([401, 'invalid_client']);
      expect((await postForm(`${s.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET) })).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it.each(['ES256', 'EdDSA', 'RS256', 'PS256'] as const)('RFC 9068 §2.1: access tokens signed with %s verify against /jwks with jose', async (alg) => {
    const { createRemoteJWKSet, jwtVerify } = await import('jose');
    const s = await startServer(storage, { signingKeys: { alg } });
    try {
      const res = await postForm(`${s.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET) });
      const { access_token } = await res.json();
      const { payload, protectedHeader } = await jwtVerify(access_token, createRemoteJWKSet(new URL(`${s.url}/jwks`)), { issuer: s.url, audience: s.url, typ: 'at+jwt' });
      expect(protectedHeader.alg).toBe(alg);
      expect(payload.client_id).toBe('confidential');
    } finally {
      await s.close();
    }
  });
});
