/**
 * RFC 8707 resource indicators over real HTTP on PGlite and PostgreSQL: `resource` (repeatable)
 * at /authorize, PAR and /token; the access token's `aud` is what was granted; narrowing at the
 * token endpoint and at refresh; `invalid_target` for unknown, not-allowed and malformed
 * resources (and nothing used up by the refusal); the default audience; introspection's `aud`;
 * RFC 9728 §4 `protected_resources` in the metadata.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, decodeJwt, defaultClients, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type DPoPKey, type Running } from './support/harness.js';

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
