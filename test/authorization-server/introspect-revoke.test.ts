/**
 * Introspection (RFC 7662) and revocation (RFC 7009) over real HTTP on PGlite and PostgreSQL,
 * including the DPoP members of introspection (RFC 9449 §6.2) and expiry with a moved clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type DPoPKey, type Running } from './support/harness.js';

describe.each(STORAGES)('introspection and revocation on $name', (factory) => {
  let server: Running;
  let cleanup: () => Promise<void>;
  let key: DPoPKey;
  /** Seconds added to the real clock (proofs are made with the real clock). */
  let skew = 0;

  beforeAll(async () => {
    const opened = await factory.open();
    cleanup = opened.cleanup;
    server = await startServer(opened.storage, { clock: () => Date.now() / 1000 + skew });
    key = await dpopKey();
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  const token = () => `${server.url}/token`;
  const introspect = (t: string, auth = basic('confidential', SECRET), extra: Record<string, string> = {}) => postForm(`${server.url}/introspect`, { token: t, ...extra }, { auth });
  const revoke = (t: string, form: Record<string, string> = {}, auth?: string) => postForm(`${server.url}/revoke`, { token: t, ...form }, auth ? { auth } : {});

  async function dpopToken(): Promise<string> {
    const res = await postForm(token(), { grant_type: 'client_credentials', scope: 'read' }, { auth: basic('confidential', SECRET), dpop: await key.proof(token()) });
    return (await res.json()).access_token;
  }

  async function publicTokens(): Promise<{ access_token: string; refresh_token: string }> {
    const p = pkce();
    const back = await signIn(server.url, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read write', code_challenge: p.challenge, code_challenge_method: 'S256', dpop_jkt: key.jkt });
    const res = await postForm(token(), { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' }, { dpop: await key.proof(token()) });
    return res.json();
  }

  it('RFC 7662 §2.2 + RFC 9449 §6.2: a bound access token is active with token_type DPoP and cnf.jkt', async () => {
    const at = await dpopToken();
    const res = await introspect(at);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body).toMatchObject({ active: true, scope: 'read', client_id: 'confidential', sub: 'confidential', iss: server.url, aud: server.url, token_type: 'DPoP', cnf: { jkt: key.jkt } });
    for (const claim of ['exp', 'iat', 'jti']) expect(body[claim]).toBeDefined();
  });

  it('RFC 7662: a bearer token introspects as token_type Bearer without cnf', async () => {
    const res = await postForm(token(), { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET) });
    const body = await (await introspect((await res.json()).access_token)).json();
    expect(body.active).toBe(true);
    expect(body.token_type).toBe('Bearer');
    expect(body.cnf).toBeUndefined();
  });

  it('RFC 7662 §2.1: introspection requires client authentication (public clients and bad secrets refused)', async () => {
    const at = await dpopToken();
    const anon = await postForm(`${server.url}/introspect`, { token: at });
    expect([anon.status, (await anon.json()).error]).toEqual([401, 'invalid_client']);
    const publicClient = await postForm(`${server.url}/introspect`, { token: at, client_id: 'spa' });
    expect(publicClient.status).toBe(401);
    const wrong = await introspect(at, basic('confidential', 'nope'));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic/);
    const missing = await postForm(`${server.url}/introspect`, {}, { auth: basic('confidential', SECRET) });
    expect([missing.status, (await missing.json()).error]).toEqual([400, 'invalid_request']);
  });

  it('RFC 7662 §2.2: unknown, forged and expired tokens are {active:false} only', async () => {
    expect(await (await introspect('garbage')).json()).toEqual({ active: false });
    const at = await dpopToken();
    const [h, p] = at.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), scope: 'admin' })).toString('base64url')}.${at.split('.')[2]}`;
    expect(await (await introspect(forged)).json()).toEqual({ active: false });
    skew = 601;
    try {
      expect(await (await introspect(at)).json()).toEqual({ active: false });
    } finally {
      skew = 0;
    }
  });

  it('RFC 7009 §2.1: a revoked access token (by jti) introspects inactive', async () => {
    const at = await dpopToken();
    const res = await revoke(at, {}, basic('confidential', SECRET));
    expect(res.status).toBe(200);
    expect(await (await introspect(at)).json()).toEqual({ active: false });
  });

  it('RFC 7009 §2.1: revoking a refresh token revokes its family and the access tokens of its grant', async () => {
    const { refresh_token, access_token } = await publicTokens();
    expect((await (await introspect(access_token)).json()).active).toBe(true);
    const active = await (await introspect(refresh_token, basic('confidential', SECRET), { token_type_hint: 'refresh_token' })).json();
    expect(active).toMatchObject({ active: true, client_id: 'spa', sub: 'alice', scope: 'read write', cnf: { jkt: key.jkt } });
    const res = await revoke(refresh_token, { client_id: 'spa', token_type_hint: 'refresh_token' });
    expect(res.status).toBe(200);
    expect(await (await introspect(refresh_token)).json()).toEqual({ active: false });
    // §2.1: the access tokens of the same grant are invalidated too.
    expect(await (await introspect(access_token)).json()).toEqual({ active: false });
    const refresh = await postForm(token(), { grant_type: 'refresh_token', refresh_token, client_id: 'spa' }, { dpop: await key.proof(token()) });
    expect((await refresh.json()).error).toBe('invalid_grant');
  });

  it('RFC 7009 §2.2: unknown tokens answer 200; a token of another client is refused; client auth is required', async () => {
    expect((await revoke('no-such-token', { client_id: 'spa' })).status).toBe(200);
    const at = await dpopToken(); // issued to "confidential"
    const other = await revoke(at, { client_id: 'spa' });
    expect([other.status, (await other.json()).error]).toEqual([400, 'unauthorized_client']);
    expect(await (await introspect(at)).json()).toMatchObject({ active: true });
    const unauth = await revoke(at, {}, basic('confidential', 'wrong'));
    expect(unauth.status).toBe(401);
    const noToken = await postForm(`${server.url}/revoke`, { client_id: 'spa' });
    expect([noToken.status, (await noToken.json()).error]).toEqual([400, 'invalid_request']);
  });

  it('RFC 6749 §4.1.2: an authorization code expires (codeTtl 60 s)', async () => {
    const p = pkce();
    const back = await signIn(server.url, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' });
    skew = 61;
    try {
      const res = await postForm(token(), { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' });
      expect([res.status, (await res.json()).error]).toEqual([400, 'invalid_grant']);
    } finally {
      skew = 0;
    }
  });

  it('RFC 9126 §2.2: a request_uri expires (parTtl 60 s)', async () => {
    const p = pkce();
    const res = await postForm(`${server.url}/par`, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' });
    const { request_uri } = await res.json();
    skew = 61;
    try {
      const page = await fetch(`${server.url}/authorize?client_id=spa&request_uri=${encodeURIComponent(request_uri)}`, { redirect: 'manual' });
      expect(page.status).toBe(400);
      expect(await page.text()).toContain('invalid_request_uri');
    } finally {
      skew = 0;
    }
  });
});
