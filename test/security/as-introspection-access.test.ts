/**
 * Attack: introspection was open to any confidential client. A client registered only for
 * client_credentials authenticated at `/introspect` and read alice's tokens: subject, scope,
 * client and `cnf.jkt`.
 *
 * Defence (RFC 7662 §2.1: the endpoint requires authorization; §4: no information to callers
 * that are not authorized): only clients configured with `introspection: true` (resource
 * servers) may introspect. A caller that fails client authentication gets 401
 * `invalid_client`; an authenticated client that is not allowed gets 403 `unauthorized_client`
 * (reason `introspection_not_allowed`), before the token is even read, and the answer says
 * nothing about the token. A public client cannot be allowed at all (start-up error).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthorizationServer } from '../../src/authorization-server/index.js';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { basic, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type Running } from '../authorization-server/support/harness.js';

describe.each(STORAGES)('introspection access on $name', (factory) => {
  let server: Running;
  let cleanup: () => Promise<void>;
  let alice: { access_token: string; refresh_token: string };

  beforeAll(async () => {
    const opened = await factory.open();
    cleanup = opened.cleanup;
    // The harness's clients: "confidential" has introspection: true; "poster" (client_credentials only) has not.
    server = await startServer(opened.storage);
    const key = await dpopKey();
    const token = `${server.url}/token`;
    const p = pkce();
    const back = await signIn(server.url, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read write', code_challenge: p.challenge, code_challenge_method: 'S256', dpop_jkt: key.jkt });
    const res = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' }, { dpop: await key.proof(token) });
    alice = await res.json();
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  const introspect = (form: Record<string, string>, auth?: string) => postForm(`${server.url}/introspect`, form, auth ? { auth } : {});

  it('RFC 7662 §4: an authenticated client without introspection rights gets 403 unauthorized_client and learns nothing about alice\'s tokens', async () => {
    for (const t of [alice.access_token, alice.refresh_token]) {
      const res = await introspect({ token: t, client_id: 'poster', client_secret: SECRET });
      expect(res.status).toBe(403);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const text = await res.text();
      const body = JSON.parse(text);
      expect(body.error).toBe('unauthorized_client');
      expect(body.error_description).toMatch(/^introspection_not_allowed:/);
      expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
      expect(text).not.toMatch(/alice|active|jkt|read write/);
    }
    // Even for a token that does not exist: the answer does not depend on the token.
    const unknown = await introspect({ token: 'no-such-token', client_id: 'poster', client_secret: SECRET });
    expect(unknown.status).toBe(403);
  });

  it('RFC 7662 §2.1: failing client authentication is 401 invalid_client; a public client is 401 too', async () => {
    const wrong = await introspect({ token: alice.access_token, client_id: 'poster', client_secret: 'not-the-secret' });
    expect([wrong.status, (await wrong.json()).error]).toEqual([401, 'invalid_client']);
    const anonymous = await introspect({ token: alice.access_token });
    expect([anonymous.status, (await anonymous.json()).error]).toEqual([401, 'invalid_client']);
    const pub = await introspect({ token: alice.access_token, client_id: 'spa' });
    expect([pub.status, (await pub.json()).error]).toEqual([401, 'invalid_client']);
  });

  it('the resource server configured with introspection: true still introspects (token_type DPoP, cnf.jkt)', async () => {
    const res = await introspect({ token: alice.access_token }, basic('confidential', SECRET));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ active: true, sub: 'alice', client_id: 'spa', scope: 'read write', token_type: 'DPoP' });
    const refresh = await introspect({ token: alice.refresh_token, token_type_hint: 'refresh_token' }, basic('confidential', SECRET));
    expect(await refresh.json()).toMatchObject({ active: true, sub: 'alice' });
  });
});

describe('introspection configuration', () => {
  it('a public client cannot be given introspection: true (TypeError naming the client)', async () => {
    const storage = createPGliteStorage();
    try {
      await expect(createAuthorizationServer({
        issuer: 'http://127.0.0.1:9/',
        storage,
        clients: [{ clientId: 'spa', tokenEndpointAuthMethod: 'none', redirectUris: [REDIRECT], introspection: true }],
      })).rejects.toThrow(/clients\[0\].*public client.*introspect/);
    } finally {
      await storage.close();
    }
  });
});
