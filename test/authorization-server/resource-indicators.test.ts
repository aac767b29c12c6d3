/**
 * RFC 8707 resource indicators over real HTTP on PGlite and PostgreSQL: `resource` (repeatable)
 * at /authorize, PAR and /token; the access token's `aud` is what was granted; narrowing at the
 * token endpoint and at refresh; `invalid_target` for unknown, not-allowed and malformed
 * resources (and nothing used up by the refusal); the default audience; introspection's `aud`;
 * RFC 9728 §4 `protected_resources` in the metadata. And at the first-party challenge endpoint
 * (draft-ietf-oauth-first-party-apps): checked as at /authorize, bound to the auth_session from
 * the first request to the step-up, carried onto the code (and the browser fallback's pushed
 * request).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, decodeJwt, defaultClients, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type DPoPKey, type Running } from './support/harness.js';
import { challenge, firstPartyClients, startFirstParty, token as fpToken, type Answer } from './support/first-party.js';

type FirstParty = Awaited<ReturnType<typeof startFirstParty>>;

const API = 'https://api.example';
const NOTES = 'https://notes.example/v1';
const MAIL = 'https://mail.example';

describe.each(STORAGES)('RFC 8707 resource indicators on $name', (factory) => {
  let server: Running;
  let bare: Running;
  let cleanup: Array<() => Promise<void>> = [];
  let key: DPoPKey;
  let token: string;

  beforeAll(async () => {
    const a = await factory.open();
    const b = await factory.open();
    cleanup = [a.cleanup, b.cleanup];
    server = await startServer(a.storage, {
      resources: [API, NOTES, MAIL],
      tokens: { audience: API },
      clients: [
        ...defaultClients(),
        { clientId: 'notes-only', tokenEndpointAuthMethod: 'client_secret_basic', clientSecret: SECRET, grantTypes: ['client_credentials'], scope: 'read', resources: [NOTES] },
      ],
    });
    bare = await startServer(b.storage);
    key = await dpopKey();
    token = `${server.url}/token`;
  });
  afterAll(async () => {
    await server?.close();
    await bare?.close();
    for (const c of cleanup) await c();
  });

  /** A client-credentials request with the given resource values (repeated as given). */
  const cc = (client: string, resources: string[], extra: Record<string, string> = {}) => {
    const body = new URLSearchParams({ grant_type: 'client_credentials', ...extra });
    for (const r of resources) body.append('resource', r);
    return postForm(token, body.toString(), { auth: basic(client, SECRET) });
  };
  const audOf = async (res: Response) => {
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    return decodeJwt(body.access_token).payload.aud;
  };

  it('RFC 9728 §4: the metadata lists the configured resources as protected_resources (none configured: absent)', async () => {
    const meta = await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json();
    expect(meta.protected_resources).toEqual([API, NOTES, MAIL]);
    const plain = await (await fetch(`${bare.url}/.well-known/oauth-authorization-server`)).json();
    expect(plain.protected_resources).toBeUndefined();
  });

  it('§2: no resource → the configured audience; one → aud is that resource; two (the parameter repeats) → aud is both', async () => {
    expect(await audOf(await cc('confidential', []))).toBe(API);
    expect(await audOf(await cc('confidential', [NOTES]))).toBe(NOTES);
    expect(await audOf(await cc('confidential', [NOTES, MAIL]))).toEqual([NOTES, MAIL]);
    expect(await audOf(await cc('confidential', [NOTES, NOTES]))).toBe(NOTES);
  });

  it('§2: unknown, malformed (relative, fragment) and not-allowed resources → 400 invalid_target', async () => {
    for (const bad of [['https://unknown.example'], ['/relative'], [`${API}#frag`], ['not a uri'], [API, 'https://unknown.example']]) {
      const res = await cc('confidential', bad);
      expect(res.status, bad.join(' ')).toBe(400);
      const body = await res.json();
      expect(body.error).toBe('invalid_target');
      expect(body.error_description).toMatch(/^invalid_target: /);
    }
    // A client's allowed resources come from its configuration.
    const res = await cc('notes-only', [API]);
    expect(res.status).toBe(400);
    expect((await res.json()).error_description).toMatch(/not allowed for this client/);
    // Its default (nothing asked) is what it may have, not the server's audience.
    expect(await audOf(await cc('notes-only', []))).toBe(NOTES);
  });

  it('without resources configured, the default audience is the issuer and another resource is unknown', async () => {
    const res = await postForm(`${bare.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET) });
    expect(decodeJwt((await res.json()).access_token).payload.aud).toBe(bare.url);
    const refused = await postForm(`${bare.url}/token`, `grant_type=client_credentials&resource=${encodeURIComponent(API)}`, { auth: basic('confidential', SECRET) });
    expect((await refused.json()).error).toBe('invalid_target');
  });

  /** Sign in as the public client with `resource` values; returns the code and its verifier. */
  async function codeFor(resources: string[]): Promise<{ code: string; verifier: string }> {
    const p = pkce();
    const query = new URLSearchParams({ response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read', state: 's', code_challenge: p.challenge, code_challenge_method: 'S256', dpop_jkt: key.jkt });
    for (const r of resources) query.append('resource', r);
    const back = await signIn(server.url, query as unknown as Record<string, string>);
    return { code: back.get('code')!, verifier: p.verifier };
  }
  const redeem = async (code: string, verifier: string, resources: string[] = []) => {
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: 'spa' });
    for (const r of resources) body.append('resource', r);
    return postForm(token, body.toString(), { dpop: await key.proof(token) });
  };

  it('§2.1/§2.2: resources asked at /authorize are the grant; the token endpoint may narrow to one, never add one (and a refusal does not use the code up)', async () => {
    const { code, verifier } = await codeFor([NOTES, MAIL]);
    const wider = await redeem(code, verifier, [API]);
    expect(wider.status).toBe(400);
    expect((await wider.json()).error).toBe('invalid_target');
    const narrowed = await redeem(code, verifier, [MAIL]);
    const body = await narrowed.json();
    expect(narrowed.status, JSON.stringify(body)).toBe(200);
    expect(decodeJwt(body.access_token).payload.aud).toBe(MAIL);

    // Refresh: the family holds both; each refresh may narrow to either, not to another.
    const refresh = (resources: string[], refreshToken: string) => {
      const b = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'spa' });
      for (const r of resources) b.append('resource', r);
      return key.proof(token).then((dpop) => postForm(token, b.toString(), { dpop }));
    };
    const refused = await refresh([API], body.refresh_token);
    expect(refused.status).toBe(400);
    expect((await refused.json()).error).toBe('invalid_target');
    // The refused refresh used nothing up: the same refresh token still works.
    const toNotes = await refresh([NOTES], body.refresh_token);
    const notes = await toNotes.json();
    expect(toNotes.status, JSON.stringify(notes)).toBe(200);
    expect(decodeJwt(notes.access_token).payload.aud).toBe(NOTES);
    const all = await (await refresh([], notes.refresh_token)).json();
    expect(decodeJwt(all.access_token).payload.aud).toEqual([NOTES, MAIL]);
  });

  it('no resource at /authorize → the default audience; naming another at the token endpoint is invalid_target', async () => {
    const first = await codeFor([]);
    expect(decodeJwt((await (await redeem(first.code, first.verifier)).json()).access_token).payload.aud).toBe(API);
    const second = await codeFor([]);
    const other = await redeem(second.code, second.verifier, [NOTES]);
    expect((await other.json()).error).toBe('invalid_target');
  });

  it('§2: an unknown resource at /authorize goes back to the client by redirect with invalid_target, state and iss', async () => {
    const p = pkce();
    const query = new URLSearchParams({ response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, state: 'st-9', code_challenge: p.challenge, code_challenge_method: 'S256', resource: 'https://unknown.example' });
    const res = await fetch(`${server.url}/authorize?${query}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const back = new URL(res.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('invalid_target');
    expect(back.searchParams.get('state')).toBe('st-9');
    expect(back.searchParams.get('iss')).toBe(server.url);
  });

  it('RFC 9126: resource in a pushed request (repeated) is checked there and kept for the code', async () => {
    const p = pkce();
    const body = new URLSearchParams({ response_type: 'code', client_id: 'confidential', redirect_uri: REDIRECT, scope: 'read', code_challenge: p.challenge, code_challenge_method: 'S256', resource: NOTES });
    body.append('resource', MAIL);
    const pushed = await postForm(`${server.url}/par`, body.toString(), { auth: basic('confidential', SECRET) });
    expect(pushed.status).toBe(201);
    const { request_uri } = await pushed.json();
    const back = await signIn(server.url, { client_id: 'confidential', request_uri });
    const res = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier }, { auth: basic('confidential', SECRET) });
    const tokens = await res.json();
    expect(decodeJwt(tokens.access_token).payload.aud).toEqual([NOTES, MAIL]);
    const bad = new URLSearchParams(body);
    bad.set('resource', 'https://unknown.example');
    const refused = await postForm(`${server.url}/par`, bad.toString(), { auth: basic('confidential', SECRET) });
    expect(refused.status).toBe(400);
    expect((await refused.json()).error).toBe('invalid_target');

    // RFC 7662: introspection tells the resource server whom the token is for.
    const introspected = await (await postForm(`${server.url}/introspect`, { token: tokens.access_token }, { auth: basic('confidential', SECRET) })).json();
    expect(introspected).toMatchObject({ active: true, aud: [NOTES, MAIL] });
  });

  it('a resource parameter may repeat, but other parameters still may not (RFC 6749 §3.1)', async () => {
    const res = await postForm(token, `grant_type=client_credentials&scope=read&scope=read&resource=${encodeURIComponent(API)}`, { auth: basic('confidential', SECRET) });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe('invalid_request');
  });

  it('configuration: a client resource the server does not know is refused at start', async () => {
    const opened = await factory.open();
    try {
      await expect(startServer(opened.storage, { resources: [API], clients: [{ clientId: 'x', tokenEndpointAuthMethod: 'client_secret_basic', clientSecret: SECRET, grantTypes: ['client_credentials'], resources: [MAIL] }] }))
        .rejects.toThrow(/clients\[0\]\.resources\[0\]/);
      await expect(startServer(opened.storage, { resources: ['relative/path'] })).rejects.toThrow(/resources\[0\]/);
    } finally {
      await opened.cleanup();
    }
  });
});

describe.each(STORAGES)('RFC 8707 resource indicators at the first-party challenge endpoint on $name', (factory) => {
  let s: FirstParty;
  let cleanup: () => Promise<void>;
  const logged: object[] = [];

  beforeAll(async () => {
    const opened = await factory.open();
    cleanup = opened.cleanup;
    const record = (o: object) => void logged.push(o);
    s = await startFirstParty(opened.storage, {
      resources: [API, NOTES, MAIL],
      tokens: { audience: API },
      clients: [
        ...firstPartyClients(),
        { clientId: 'cli-notes', tokenEndpointAuthMethod: 'none', firstParty: true, scope: 'read', resources: [NOTES] },
      ],
      throttle: { username: { freeAttempts: 50 }, address: { freeAttempts: 1000 }, session: { freeAttempts: 50 } },
      logger: { debug: record, info: record, warn: record, error: record },
    });
  });
  afterAll(async () => {
    await s?.close();
    await cleanup?.();
  });

  /** A challenge request with `resource` repeated as given. */
  const ask = (key: DPoPKey, params: Record<string, string>, resources: string[] = []) => {
    const body = new URLSearchParams(params);
    for (const r of resources) body.append('resource', r);
    return challenge(s, key, body);
  };
  const redeem = (key: DPoPKey, code: string, resources: string[] = [], client = 'cli') => {
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, client_id: client });
    for (const r of resources) body.append('resource', r);
    return fpToken(s, key, body);
  };
  const audOf = (a: Answer) => {
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    return decodeJwt(a.body.access_token).payload.aud;
  };
  /** A refusal as RFC 8707 §2 words it: 400 invalid_target, reason invalid_target (body and log). */
  const expectInvalidTarget = (a: Answer, detail: RegExp) => {
    expect(a.status, JSON.stringify(a.body)).toBe(400);
    expect(a.body.error).toBe('invalid_target');
    expect(a.body.error_description).toMatch(/^invalid_target: /);
    expect(a.body.error_description).toMatch(detail);
    expect(a.body.auth_session).toBeUndefined();
    expect(a.body.authorization_code).toBeUndefined();
    expect(logged).toContainEqual({ endpoint: 'authorize_challenge', error: 'invalid_target', reason: 'invalid_target', status: 400 });
  };
  const alice = { response_type: 'code', client_id: 'cli', username: 'alice', password: 'alice-password' };

  it('§2: the challenge request\'s resource is the token\'s aud: none → the default audience; one → it; repeated → both', async () => {
    const key = await dpopKey();
    const none = await ask(key, alice);
    expect(audOf(await redeem(key, none.body.authorization_code))).toBe(API);
    const one = await ask(key, alice, [NOTES]);
    expect(audOf(await redeem(key, one.body.authorization_code))).toBe(NOTES);
    const two = await ask(key, alice, [NOTES, MAIL, NOTES]);
    expect(audOf(await redeem(key, two.body.authorization_code))).toEqual([NOTES, MAIL]);
  });

  it('§2: an unknown, a malformed or a not-allowed resource → 400 invalid_target before any credential is looked at (no auth_session, no code)', async () => {
    const key = await dpopKey();
    expectInvalidTarget(await ask(key, alice, ['https://unknown.example']), /is unknown to this server/);
    expectInvalidTarget(await ask(key, alice, [NOTES, 'https://unknown.example']), /is unknown to this server/);
    expectInvalidTarget(await ask(key, alice, [`${NOTES}#x`]), /absolute URI without fragment/);
    // cli-notes may have NOTES only; its default is then NOTES, not the server's audience.
    expectInvalidTarget(await ask(key, { ...alice, client_id: 'cli-notes' }, [API]), /is not allowed for this client/);
    // A wrong password would have been counted: the refusal comes first, so nothing was.
    expectInvalidTarget(await ask(key, { ...alice, password: 'wrong' }, [MAIL, 'https://unknown.example']), /is unknown/);
    const fine = await ask(key, { ...alice, client_id: 'cli-notes' });
    expect(audOf(await redeem(key, fine.body.authorization_code, [], 'cli-notes'))).toBe(NOTES);
  });

  it('the first request\'s resources are bound to the auth_session: a later step naming others (wider, narrower, or any when none was named) → invalid_target, the session still usable; repeating them is allowed', async () => {
    const key = await dpopKey();
    const first = await ask(key, { response_type: 'code', client_id: 'cli', username: 'alice' }, [NOTES]);
    expect(first.status).toBe(403);
    expect(first.body).toMatchObject({ error: 'insufficient_authorization', next: 'password' });
    const step = { auth_session: first.body.auth_session as string, password: 'alice-password' };
    expectInvalidTarget(await ask(key, step, [API]), /is not one of the resources its sign-in started with/);
    expectInvalidTarget(await ask(key, step, [NOTES, MAIL]), /"https:\/\/mail\.example" is not one/);
    expectInvalidTarget(await ask(key, step, ['https://unknown.example']), /is not one/);
    // The refusals used nothing up: the same auth_session, repeating the resource, gets the code.
    const done = await ask(key, step, [NOTES]);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(audOf(await redeem(key, done.body.authorization_code))).toBe(NOTES);

    // Narrowing is the token endpoint's, not a later step's.
    const both = await ask(key, { response_type: 'code', client_id: 'cli', username: 'alice' }, [NOTES, MAIL]);
    expectInvalidTarget(await ask(key, { auth_session: both.body.auth_session, password: 'alice-password' }, [MAIL]), /"https:\/\/notes\.example\/v1" is missing/);
    // A flow that named none is for the default audience: naming another later is refused, naming it is not.
    const plain = await ask(key, { response_type: 'code', client_id: 'cli', username: 'alice' });
    expectInvalidTarget(await ask(key, { auth_session: plain.body.auth_session, password: 'alice-password' }, [MAIL]), /is not one/);
    const again = await ask(key, { auth_session: plain.body.auth_session, password: 'alice-password' }, [API]);
    expect(audOf(await redeem(key, again.body.authorization_code))).toBe(API);
  });

  it('§2.2: the token request narrows a challenge code\'s resources, never widens them (a refusal leaves the code usable); the refresh-token family holds them all', async () => {
    const key = await dpopKey();
    const a = await ask(key, alice, [NOTES, MAIL]);
    const wider = await redeem(key, a.body.authorization_code, [API]);
    expect(wider.status).toBe(400);
    expect(wider.body).toMatchObject({ error: 'invalid_target', error_description: expect.stringMatching(/^invalid_target: .*was not granted/) });
    const narrowed = await redeem(key, a.body.authorization_code, [MAIL]);
    expect(audOf(narrowed)).toBe(MAIL);
    const refreshed = await fpToken(s, key, { grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, client_id: 'cli' });
    expect(audOf(refreshed)).toEqual([NOTES, MAIL]);
  });

  it('step-up (§6.1, RFC 9470) on the token response\'s auth_session is for the same resources: another set → invalid_target; the same, or none → a code for them', async () => {
    const key = await dpopKey();
    const a = await ask(key, alice, [NOTES]);
    const t = await redeem(key, a.body.authorization_code, [], 'cli');
    expect(audOf(t)).toBe(NOTES);
    const session = t.body.auth_session as string;
    expectInvalidTarget(await ask(key, { response_type: 'code', auth_session: session }, [API]), /is not one/);
    expectInvalidTarget(await ask(key, { response_type: 'code', auth_session: session }, [NOTES, MAIL]), /is not one/);
    // The same resources: a code for them (no new demand: the sign-in still counts).
    const same = await ask(key, { response_type: 'code', auth_session: session }, [NOTES]);
    const stepped = await redeem(key, same.body.authorization_code);
    expect(audOf(stepped)).toBe(NOTES);
    // None named: still the grant's resources, not the default audience.
    const none = await ask(key, { response_type: 'code', auth_session: stepped.body.auth_session });
    expect(audOf(await redeem(key, none.body.authorization_code))).toBe(NOTES);
  });

  it('redirect_to_web: the pushed request carries the flow\'s resources, so the browser\'s code is for them', async () => {
    const key = await dpopKey();
    const p = pkce();
    const web = await ask(key, { response_type: 'code', client_id: 'cli', username: 'carol', code_challenge: p.challenge, code_challenge_method: 'S256' }, [MAIL]);
    expect(web.status).toBe(403);
    expect(web.body.error).toBe('redirect_to_web');
    const back = await signIn(s.url, { client_id: 'cli', request_uri: web.body.request_uri }, { username: 'carol', password: 'carol-password' });
    const t = await fpToken(s, key, { grant_type: 'authorization_code', code: back.get('code')!, client_id: 'cli', redirect_uri: REDIRECT, code_verifier: p.verifier });
    expect(audOf(t)).toBe(MAIL);
  });
});
