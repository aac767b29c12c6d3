/**
 * The authorization code flow over real HTTP on PGlite and PostgreSQL: /authorize and the
 * sign-in form, PKCE (RFC 7636, S256 only), dpop_jkt (RFC 9449 §10), PAR (RFC 9126), refresh
 * tokens bound for public clients (RFC 9449 §5), rotation with reuse detection and concurrency.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, decodeJwt, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type DPoPKey, type Running } from './support/harness.js';

describe.each(STORAGES)('authorization code flow on $name', (factory) => {
  let server: Running;
  let cleanup: () => Promise<void>;
  let key: DPoPKey;
  let other: DPoPKey;
  let token: string;

  beforeAll(async () => {
    const opened = await factory.open();
    cleanup = opened.cleanup;
    server = await startServer(opened.storage);
    key = await dpopKey();
    other = await dpopKey();
    token = `${server.url}/token`;
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  const authQuery = (extra: Record<string, string> = {}, clientId = 'spa') => {
    const p = pkce();
    return { p, query: { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'read', state: 'st-1', code_challenge: p.challenge, code_challenge_method: 'S256', ...extra } };
  };

  /** Sign in as a public client bound with dpop_jkt and redeem the code with a proof. */
  async function publicTokens(k: DPoPKey = key) {
    const { p, query } = authQuery({ dpop_jkt: k.jkt });
    const back = await signIn(server.url, query);
    const res = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' }, { dpop: await k.proof(token) });
    expect(res.status).toBe(200);
    return res.json();
  }

  it('RFC 6749 §4.1.2 + RFC 9207: sign-in redirects to the registered URI with code, state and iss', async () => {
    const { query } = authQuery();
    const back = await signIn(server.url, query);
    expect(back.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(back.get('state')).toBe('st-1');
    expect(back.get('iss')).toBe(server.url);
  });

  it('the sign-in page is real HTML: escaped client name, CSRF field, HttpOnly SameSite cookie, no framing', async () => {
    const { query } = authQuery();
    const page = await fetch(`${server.url}/authorize?${new URLSearchParams(query)}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    const cookie = page.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    const html = await page.text();
    expect(html).toContain('Demo &#60;SPA&#62;');
    expect(html).not.toContain('Demo <SPA>');
    expect(html).toMatch(/name="csrf" value="[A-Za-z0-9_-]{43}"/);
  });

  it('CSRF: a sign-in post with a wrong token or without the interaction cookie is refused; a wrong password re-shows the form', async () => {
    const { query } = authQuery();
    const page = await fetch(`${server.url}/authorize?${new URLSearchParams(query)}`);
    const html = await page.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const login = `${server.url}/login`;
    const wrongCsrf = await postForm(login, { csrf: 'x'.repeat(43), username: 'alice', password: 'alice-password' }, { headers: { cookie } });
    expect(wrongCsrf.status).toBe(403);
    const noCookie = await postForm(login, { csrf, username: 'alice', password: 'alice-password' });
    expect(noCookie.status).toBe(403);
    const wrongPassword = await postForm(login, { csrf, username: 'alice', password: 'nope' }, { headers: { cookie } });
    expect(wrongPassword.status).toBe(401);
    expect(await wrongPassword.text()).toContain('Wrong username or password');
    const unknownUser = await postForm(login, { csrf, username: '<bob>', password: 'nope' }, { headers: { cookie } });
    expect(await unknownUser.text()).toContain('value="&#60;bob&#62;"');
    const ok = await postForm(login, { csrf, username: 'alice', password: 'alice-password' }, { headers: { cookie } });
    expect(ok.status).toBe(303);
    // The interaction is single-use: the same form again is refused.
    const again = await postForm(login, { csrf, username: 'alice', password: 'alice-password' }, { headers: { cookie } });
    expect(again.status).toBe(400);
  });

  it('login CSRF: a form from another sign-in (the attacker\'s) is refused in a browser that only has its own; two tabs do not collide', async () => {
    const start = async () => {
      const { query } = authQuery();
      const page = await fetch(`${server.url}/authorize?${new URLSearchParams(query)}`);
      return { csrf: /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!, cookie: page.headers.get('set-cookie')!.split(';')[0]! };
    };
    const login = `${server.url}/login`;
    const victim = await start();
    const attacker = await start();
    // The attacker's form (its csrf) posted from the victim's browser (the victim's cookie only).
    const forged = await postForm(login, { csrf: attacker.csrf, username: 'alice', password: 'alice-password' }, { headers: { cookie: victim.cookie } });
    expect(forged.status).toBe(403);
    // Two tabs of one browser: both cookies present, each form completes its own sign-in.
    const jar = `${victim.cookie}; ${attacker.cookie}`;
    for (const tab of [victim, attacker]) {
      const res = await postForm(login, { csrf: tab.csrf, username: 'alice', password: 'alice-password' }, { headers: { cookie: jar } });
      expect(res.status).toBe(303);
      expect(new URL(res.headers.get('location')!).searchParams.get('code')).toBeTruthy();
    }
  });

  it('cancel: the user declines and the client gets access_denied with state and iss', async () => {
    const { query } = authQuery();
    const page = await fetch(`${server.url}/authorize?${new URLSearchParams(query)}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const res = await postForm(`${server.url}/login`, { csrf, action: 'cancel' }, { headers: { cookie } });
    const back = new URL(res.headers.get('location')!);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('st-1');
    expect(back.searchParams.get('iss')).toBe(server.url);
  });

  it('no open redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.1.3): unknown client or unregistered/prefix-matching redirect_uri is shown, never redirected', async () => {
    for (const [extra, clientId] of [
      [{ redirect_uri: 'https://evil.example/cb' }, 'spa'],
      [{ redirect_uri: `${REDIRECT}/extra` }, 'spa'],
      [{ redirect_uri: `${REDIRECT}?x=1` }, 'spa'],
      [{}, 'nobody'],
    ] as const) {
      const { query } = authQuery(extra, clientId);
      const res = await fetch(`${server.url}/authorize?${new URLSearchParams(query)}`, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    }
    const missing = await fetch(`${server.url}/authorize?response_type=code`, { redirect: 'manual' });
    expect(missing.status).toBe(400);
  });

  it('RFC 7636 / RFC 9700 §2.1.1: PKCE required and S256 only; other request errors redirect with error, state and iss', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ code_challenge: '' }, 'invalid_request'],
      [{ code_challenge: 'short' }, 'invalid_request'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ scope: 'admin' }, 'invalid_scope'],
      [{ dpop_jkt: 'not a thumbprint' }, 'invalid_request'],
    ];
    for (const [extra, error] of cases) {
      const { query } = authQuery(extra);
      const res = await fetch(`${server.url}/authorize?${new URLSearchParams(query)}`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const back = new URL(res.headers.get('location')!);
      expect(back.origin + back.pathname).toBe(REDIRECT);
      expect(back.searchParams.get('error')).toBe(error);
      expect(back.searchParams.get('state')).toBe('st-1');
      expect(back.searchParams.get('iss')).toBe(server.url);
    }
    const dup = await fetch(`${server.url}/authorize?client_id=spa&client_id=spa`, { redirect: 'manual' });
    expect(dup.status).toBe(400);
  });

  it('RFC 6749 §3.1.2: a registered redirect URI with a query keeps it, exact match', async () => {
    const { query } = authQuery({ redirect_uri: 'http://127.0.0.1:9/other?x=1' });
    const back = await signIn(server.url, query);
    expect(back.get('x')).toBe('1');
    expect(back.get('code')).toBeTruthy();
  });

  it('RFC 9449 §10: a code bound with dpop_jkt gives a DPoP token and a bound refresh token (public client, §5)', async () => {
    const body = await publicTokens();
    expect(body.token_type).toBe('DPoP');
    expect(body.scope).toBe('read');
    expect(typeof body.refresh_token).toBe('string');
    const { payload } = decodeJwt(body.access_token);
    expect(payload).toMatchObject({ sub: 'alice', client_id: 'spa', cnf: { jkt: key.jkt } });
    expect(typeof payload.auth_time).toBe('number');
  });

  it('RFC 9449 §10: a dpop_jkt-bound code without a proof, or with another key, is invalid_grant', async () => {
    const { p, query } = authQuery({ dpop_jkt: key.jkt });
    const code = (await signIn(server.url, query)).get('code')!;
    const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' };
    const noProof = await postForm(token, form);
    expect(noProof.status).toBe(400);
    const b1 = await noProof.json();
    expect(b1.error).toBe('invalid_grant');
    expect(b1.error_description).toMatch(/^missing_proof/);
    const { p: p2, query: q2 } = authQuery({ dpop_jkt: key.jkt });
    const code2 = (await signIn(server.url, q2)).get('code')!;
    const wrongKey = await postForm(token, { ...form, code: code2, code_verifier: p2.verifier }, { dpop: await other.proof(token) });
    const b2 = await wrongKey.json();
    expect(b2.error).toBe('invalid_grant');
    expect(b2.error_description).toMatch(/^jkt_mismatch/);
  });

  it('RFC 7636 §4.6 and RFC 6749 §4.1.3: wrong verifier, wrong redirect_uri, another client, unknown code are invalid_grant', async () => {
    const attempt = async (mutate: (f: Record<string, string>) => Record<string, string>, opts: { auth?: string } = {}) => {
      const { p, query } = authQuery();
      const code = (await signIn(server.url, query)).get('code')!;
      const res = await postForm(token, mutate({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' }), opts);
      return [res.status, (await res.json()).error];
    };
    expect(await attempt((f) => ({ ...f, code_verifier: 'A'.repeat(43) }))).toEqual([400, 'invalid_grant']);
    expect(await attempt((f) => ({ ...f, redirect_uri: 'http://127.0.0.1:9/other?x=1' }))).toEqual([400, 'invalid_grant']);
    expect(await attempt((f) => ({ ...f, code: 'unknown' }))).toEqual([400, 'invalid_grant']);
    expect(await attempt(({ client_id: _, ...f }) => f, { auth: basic('confidential', SECRET) })).toEqual([400, 'invalid_grant']);
    expect(await attempt((f) => ({ ...f, code_verifier: 'short' }))).toEqual([400, 'invalid_request']);
    expect(await attempt(({ code_verifier: _, ...f }) => f)).toEqual([400, 'invalid_request']);
  });

  it('RFC 6749 §4.1.2: a reused code is refused and the refresh tokens issued from it are revoked', async () => {
    const { p, query } = authQuery({ dpop_jkt: key.jkt });
    const code = (await signIn(server.url, query)).get('code')!;
    const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' };
    const first = await postForm(token, form, { dpop: await key.proof(token) });
    const { refresh_token, access_token } = await first.json();
    const introspect = async (t: string) => (await postForm(`${server.url}/introspect`, { token: t }, { auth: basic('confidential', SECRET) })).json();
    expect((await introspect(access_token)).active).toBe(true);
    const second = await postForm(token, form, { dpop: await key.proof(token) });
    expect([second.status, (await second.json()).error]).toEqual([400, 'invalid_grant']);
    const refresh = await postForm(token, { grant_type: 'refresh_token', refresh_token, client_id: 'spa' }, { dpop: await key.proof(token) });
    expect([refresh.status, (await refresh.json()).error]).toEqual([400, 'invalid_grant']);
    // The access token from the first redemption is revoked too (introspection says so).
    expect(await introspect(access_token)).toEqual({ active: false });
  });

  it('RFC 9449 §5: a public client refresh token needs a proof from the same key; rotation returns a new one', async () => {
    const { refresh_token } = await publicTokens();
    const noProof = await postForm(token, { grant_type: 'refresh_token', refresh_token, client_id: 'spa' });
    expect(await noProof.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/^missing_proof/) });
    const wrongKey = await postForm(token, { grant_type: 'refresh_token', refresh_token, client_id: 'spa' }, { dpop: await other.proof(token) });
    expect(await wrongKey.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/^jkt_mismatch/) });
    // The failed attempts did not burn the token (the binding is checked before rotation).
    const ok = await postForm(token, { grant_type: 'refresh_token', refresh_token, client_id: 'spa', scope: 'read' }, { dpop: await key.proof(token) });
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect(body.token_type).toBe('DPoP');
    expect(body.refresh_token).not.toBe(refresh_token);
    expect(decodeJwt(body.access_token).payload.cnf).toEqual({ jkt: key.jkt });
    const widen = await postForm(token, { grant_type: 'refresh_token', refresh_token: body.refresh_token, client_id: 'spa', scope: 'read write admin' }, { dpop: await key.proof(token) });
    expect((await widen.json()).error).toBe('invalid_scope');
  });

  it('RFC 9449 §5: a confidential client refresh token is not bound; a later proof binds only the access token', async () => {
    const { p, query } = authQuery({}, 'confidential');
    const code = (await signIn(server.url, query)).get('code')!;
    const res = await postForm(token, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: p.verifier }, { auth: basic('confidential', SECRET), dpop: await key.proof(token) });
    const { refresh_token } = await res.json();
    const refreshed = await postForm(token, { grant_type: 'refresh_token', refresh_token }, { auth: basic('confidential', SECRET), dpop: await other.proof(token) });
    expect(refreshed.status).toBe(200);
    expect(decodeJwt((await refreshed.json()).access_token).payload.cnf).toEqual({ jkt: other.jkt });
  });

  it('RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the family', async () => {
    const { refresh_token: r1 } = await publicTokens();
    const second = await postForm(token, { grant_type: 'refresh_token', refresh_token: r1, client_id: 'spa' }, { dpop: await key.proof(token) });
    const { refresh_token: r2, access_token: a2 } = await second.json();
    const reuse = await postForm(token, { grant_type: 'refresh_token', refresh_token: r1, client_id: 'spa' }, { dpop: await key.proof(token) });
    expect([reuse.status, (await reuse.json()).error]).toEqual([400, 'invalid_grant']);
    const after = await postForm(token, { grant_type: 'refresh_token', refresh_token: r2, client_id: 'spa' }, { dpop: await key.proof(token) });
    expect([after.status, (await after.json()).error]).toEqual([400, 'invalid_grant']);
    const intro = await postForm(`${server.url}/introspect`, { token: a2 }, { auth: basic('confidential', SECRET) });
    expect(await intro.json()).toEqual({ active: false });
  });

  it('concurrency: 50 parallel redemptions of one code give exactly one token', async () => {
    const { p, query } = authQuery({ dpop_jkt: key.jkt });
    const code = (await signIn(server.url, query)).get('code')!;
    const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' };
    const proofs = await Promise.all(Array.from({ length: 50 }, () => key.proof(token)));
    const answers = await Promise.all(proofs.map((dpop) => postForm(token, form, { dpop })));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(49);
    const bodies = await Promise.all(answers.map((r) => r.json()));
    expect(bodies.filter((b) => b.error === 'invalid_grant')).toHaveLength(49);
  });

  it('concurrency: 50 parallel uses of one refresh token give exactly one success and revoke the family', async () => {
    const { refresh_token } = await publicTokens();
    const proofs = await Promise.all(Array.from({ length: 50 }, () => key.proof(token)));
    const answers = await Promise.all(proofs.map((dpop) => postForm(token, { grant_type: 'refresh_token', refresh_token, client_id: 'spa' }, { dpop })));
    const bodies = await Promise.all(answers.map((r) => r.json()));
    const winners = bodies.filter((b) => b.access_token);
    expect(winners).toHaveLength(1);
    expect(bodies.filter((b) => b.error === 'invalid_grant')).toHaveLength(49);
    // The family is revoked: the winner's new refresh token fails too.
    const next = await postForm(token, { grant_type: 'refresh_token', refresh_token: winners[0].refresh_token, client_id: 'spa' }, { dpop: await key.proof(token) });
    expect([next.status, (await next.json()).error]).toEqual([400, 'invalid_grant']);
  });

  describe('RFC 9126 pushed authorization requests', () => {
    const par = () => `${server.url}/par`;

    it('a DPoP header at PAR binds the code (RFC 9449 §10.1); request_uri is single-use', async () => {
      const p = pkce();
      const res = await postForm(par(), { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read', state: 's', code_challenge: p.challenge, code_challenge_method: 'S256' }, { dpop: await key.proof(par()) });
      expect(res.status).toBe(201);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = await res.json();
      expect(body.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
      expect(body.expires_in).toBe(60);
      const back = await signIn(server.url, { client_id: 'spa', request_uri: body.request_uri });
      expect(back.get('state')).toBe('s');
      const form = { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' };
      const wrong = await postForm(token, form, { dpop: await other.proof(token) });
      expect((await wrong.json()).error_description).toMatch(/^jkt_mismatch/);
      // Single use: the request_uri cannot start a second sign-in.
      const again = await fetch(`${server.url}/authorize?client_id=spa&request_uri=${encodeURIComponent(body.request_uri)}`, { redirect: 'manual' });
      expect(again.status).toBe(400);
      expect(again.headers.get('location')).toBeNull();
    });

    it('dpop_jkt at PAR binds the code; the right key redeems it', async () => {
      const p = pkce();
      const res = await postForm(par(), { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256', dpop_jkt: key.jkt });
      const { request_uri } = await res.json();
      const back = await signIn(server.url, { client_id: 'spa', request_uri });
      const ok = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' }, { dpop: await key.proof(token) });
      expect(ok.status).toBe(200);
      expect(decodeJwt((await ok.json()).access_token).payload.cnf).toEqual({ jkt: key.jkt });
    });

    it('RFC 9449 §10.1: dpop_jkt and the DPoP header key must agree; the proof htu must be the PAR endpoint', async () => {
      const p = pkce();
      const form = { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256', dpop_jkt: other.jkt };
      const mismatch = await postForm(par(), form, { dpop: await key.proof(par()) });
      expect(mismatch.status).toBe(400);
      const b = await mismatch.json();
      expect(b.error).toBe('invalid_request');
      expect(b.error_description).toMatch(/^jkt_mismatch/);
      const wrongHtu = await postForm(par(), { ...form, dpop_jkt: key.jkt }, { dpop: await key.proof(token) });
      expect((await wrongHtu.json()).error_description).toMatch(/^htu_mismatch/);
    });

    it('RFC 9126 §2.3: PAR errors are JSON: bad redirect_uri, no PKCE, request_uri inside, client auth', async () => {
      const p = pkce();
      const base = { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' };
      const r1 = await postForm(par(), { ...base, redirect_uri: 'https://evil.example/' });
      expect([r1.status, (await r1.json()).error]).toEqual([400, 'invalid_request']);
      const r2 = await postForm(par(), { ...base, code_challenge_method: 'plain' });
      expect([r2.status, (await r2.json()).error]).toEqual([400, 'invalid_request']);
      const r3 = await postForm(par(), { ...base, request_uri: 'urn:x' });
      expect([r3.status, (await r3.json()).error]).toEqual([400, 'invalid_request']);
      const r4 = await postForm(par(), { ...base, client_id: 'confidential' }, { auth: basic('confidential', 'wrong') });
      expect([r4.status, (await r4.json()).error]).toEqual([401, 'invalid_client']);
    });

    it('RFC 9126 §4: an expired request_uri or one of another client is refused on a page', async () => {
      const p = pkce();
      const res = await postForm(par(), { response_type: 'code', client_id: 'confidential', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' }, { auth: basic('confidential', SECRET) });
      const { request_uri } = await res.json();
      const stolen = await fetch(`${server.url}/authorize?client_id=spa&request_uri=${encodeURIComponent(request_uri)}`, { redirect: 'manual' });
      expect(stolen.status).toBe(400);
      expect(stolen.headers.get('location')).toBeNull();
    });
  });
});
