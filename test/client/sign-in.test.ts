/**
 * `signIn` and `stepUp` (dpopkit/client) against dpopkit's own authorization server, with a
 * resource server that demands a stronger or a more recent sign-in (RFC 9470), end to end: the
 * steps driven by callbacks, the auth_session kept and replaced, the server's nonces answered,
 * the browser fallback (redirect_to_web), and a step-up in one call.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDPoPClient, discover, exchangeCode, OAuthResponseError, signIn, stepUp, stepUpChallenge, type AuthorizationServerMetadata, type DPoPClient, type SignInPrompt } from '../../src/client/index.js';
import { findChallenge } from '../../src/index.js';
import { dpopNode } from '../../src/resource-server/adapters/node.js';
import { createResourceServer } from '../../src/resource-server/index.js';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { decodeJwt, postForm, REDIRECT } from '../authorization-server/support/harness.js';
import { ACR_MFA, ACR_PWD, bobCode, startFirstParty } from '../authorization-server/support/first-party.js';

type Server_ = Awaited<ReturnType<typeof startFirstParty>>;

/** Answers given to the callbacks, and what the callbacks were told. */
function answers(values: { password?: string[]; otp?: Array<string | (() => string)> }) {
  const seen: Array<{ step: 'password' | 'otp' } & SignInPrompt> = [];
  const password = [...(values.password ?? [])];
  const otp = [...(values.otp ?? [])];
  return {
    seen,
    onPassword: (p: SignInPrompt) => {
      seen.push({ step: 'password', ...p });
      return password.shift() ?? 'no-more-passwords';
    },
    onOtp: (p: SignInPrompt) => {
      seen.push({ step: 'otp', ...p });
      const next = otp.shift();
      return typeof next === 'function' ? next() : (next ?? '000000');
    },
  };
}

describe('signIn: first-party sign-in from the client library', () => {
  let s: Server_;
  let metadata: AuthorizationServerMetadata;
  const storage = createPGliteStorage();

  beforeAll(async () => {
    // Nonces required (RFC 9449 §8): every step's first proof is answered with use_dpop_nonce.
    s = await startFirstParty(storage, { dpop: { nonce: { secret: 's'.repeat(32) }, maxFuture: 600 } });
    metadata = await discover(s.url);
  });
  afterAll(async () => {
    await s?.close();
    await storage.close();
  });

  it('discovery finds the authorization_challenge_endpoint', () => {
    expect(metadata.authorization_challenge_endpoint).toBe(`${s.url}/authorize-challenge`);
  });

  it('a password account: one callback, DPoP-bound tokens and an auth_session; the proofs all came from the client\'s key', async () => {
    const proofs: string[] = [];
    const client = createDPoPClient({ onProof: (p) => proofs.push(p.url) });
    const a = answers({ password: ['alice-password'] });
    const result = await signIn(client, metadata, { clientId: 'cli', scope: 'read', username: 'alice', ...a });
    expect(result.redirectToWeb).toBeUndefined();
    expect(result.tokens!.token_type).toBe('DPoP');
    expect(decodeJwt(result.tokens!.access_token).payload).toMatchObject({ sub: 'alice', cnf: { jkt: await client.thumbprint() }, acr: ACR_PWD, scope: 'read' });
    expect(result.authSession).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(result.authSession).toBe(result.tokens!.auth_session);
    expect(a.seen).toEqual([{ step: 'password', username: 'alice', attempt: 1, error: undefined }]);
    // Challenge requests (with the nonce retries) and the token request, each with a proof.
    expect(proofs.filter((u) => u.endsWith('/authorize-challenge')).length).toBeGreaterThanOrEqual(2);
    expect(proofs.at(-1)).toBe(`${s.url}/token`);
  });

  it('a TOTP account after a wrong password: the password is asked again with the server\'s words, then the code', async () => {
    const client = createDPoPClient();
    s.clock.advance(60);
    const a = answers({ password: ['wrong', 'bob-password'], otp: [() => bobCode(s.clock.now())] });
    const result = await signIn(client, metadata, { clientId: 'cli', username: 'bob', ...a });
    expect(decodeJwt(result.tokens!.access_token).payload).toMatchObject({ sub: 'bob', acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] });
    expect(a.seen).toEqual([
      { step: 'password', username: 'bob', attempt: 1, error: undefined },
      { step: 'password', username: 'bob', attempt: 2, error: 'Wrong username or password.' },
      { step: 'otp', username: 'bob', attempt: 1, error: undefined },
    ]);
  });

  it('a server refusal is an OAuthResponseError (a client that is not first-party: unauthorized_client)', async () => {
    const err = await signIn(createDPoPClient(), metadata, { clientId: 'spa', username: 'alice', onPassword: () => 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthResponseError);
    expect((err as OAuthResponseError).error).toBe('unauthorized_client');
  });

  it('a step the app cannot answer (no onOtp) → unsupported_challenge; no metadata endpoint → missing_endpoint', async () => {
    const err = await signIn(createDPoPClient(), metadata, { clientId: 'cli', username: 'bob', onPassword: () => 'bob-password' }).catch((e: unknown) => e);
    expect((err as OAuthResponseError).error).toBe('unsupported_challenge');
    const none = await signIn(createDPoPClient(), { issuer: s.url }, { clientId: 'cli', username: 'bob', onPassword: () => 'x' }).catch((e: unknown) => e);
    expect((none as OAuthResponseError).error).toBe('missing_endpoint');
  });

  it('redirect_to_web: the URL to open carries the pushed request; the browser\'s code is redeemed with the verifier and the same key', async () => {
    const client = createDPoPClient();
    const result = await signIn(client, metadata, { clientId: 'cli', username: 'carol', onPassword: () => 'never asked' });
    expect(result.tokens).toBeUndefined();
    const web = result.redirectToWeb!;
    expect(web.url!.origin + web.url!.pathname).toBe(`${s.url}/authorize`);
    expect(web.url!.searchParams.get('request_uri')).toBe(web.requestUri);
    expect(web.codeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The browser part, by hand.
    const page = await fetch(web.url!, { redirect: 'manual' });
    const html = await page.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const login = await postForm(`${s.url}/login`, { csrf, username: 'carol', password: 'carol-password', action: 'login' }, { headers: { cookie } });
    const back = new URL(login.headers.get('location')!);
    const tokens = await exchangeCode(client, metadata, { clientId: 'cli', code: back.searchParams.get('code')!, redirectUri: REDIRECT, codeVerifier: web.codeVerifier!, iss: back.searchParams.get('iss')! });
    expect(decodeJwt(tokens.access_token).payload).toMatchObject({ sub: 'carol', cnf: { jkt: await client.thumbprint() } });
  });
});

describe('RFC 9470 step-up end to end: a resource server asks, the client signs in again in one call', () => {
  let s: Server_;
  let metadata: AuthorizationServerMetadata;
  let api: Server;
  let apiBase: string;
  const storage = createPGliteStorage();

  beforeAll(async () => {
    s = await startFirstParty(storage, { dpop: { maxFuture: 600 } });
    metadata = await discover(s.url);
    // The API: /basic takes any valid token; /recent wants a sign-in at most 60 s old; /strong wants mfa.
    const rs = createResourceServer({ issuer: s.url, audience: s.url, allowedHosts: ['127.0.0.1'] });
    const guards: Record<string, ReturnType<typeof dpopNode>> = {
      '/basic': dpopNode(rs),
      '/recent': dpopNode(rs, { authentication: { maxAge: 60 } }),
      '/strong': dpopNode(rs, { authentication: { acr: [ACR_MFA] } }),
    };
    api = createServer((req, res) => {
      const guard = guards[req.url ?? ''];
      if (!guard) return void res.writeHead(404).end();
      void guard(req, res, () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: req.dpop!.subject, acr: req.dpop!.claims.acr })));
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    apiBase = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => api?.close(() => r()));
    await s?.close();
    await storage.close();
  });

  async function signedIn(client: DPoPClient, user: 'alice' | 'bob') {
    const result = await signIn(client, metadata, {
      clientId: 'cli',
      username: user,
      onPassword: () => `${user}-password`,
      onOtp: () => bobCode(s.clock.now()),
    });
    return result as { tokens: { access_token: string }; authSession: string };
  }

  it('max_age: a two-minute-old sign-in → 401 insufficient_user_authentication max_age=60 (in the DPoP challenge); stepUp asks the password again; the new token passes', async () => {
    const client = createDPoPClient();
    s.clock.advance(-120); // the sign-in happens "two minutes ago"
    const first = await signedIn(client, 'alice');
    s.clock.advance(120);
    expect((await client.fetch(`${apiBase}/basic`, { accessToken: first.tokens.access_token })).status).toBe(200);
    const refused = await client.fetch(`${apiBase}/recent`, { accessToken: first.tokens.access_token });
    expect(refused.status).toBe(401);
    // RFC 9449 §7.2 / RFC 9470 §3: in the challenge of the scheme used (DPoP), not the Bearer one.
    const header = refused.headers.get('www-authenticate')!;
    expect(findChallenge(header, 'DPoP')!.params).toMatchObject({ error: 'insufficient_user_authentication', max_age: '60' });
    expect(findChallenge(header, 'Bearer')?.params.error).toBeUndefined();
    expect(stepUpChallenge(refused)).toEqual({ acrValues: undefined, maxAge: 60, scope: undefined });

    const asked: string[] = [];
    const again = await stepUp(client, metadata, refused, {
      clientId: 'cli',
      authSession: first.authSession,
      onPassword: (p) => {
        asked.push(`password for ${p.username ?? 'the session user'}`);
        return 'alice-password';
      },
    });
    expect(asked).toEqual(['password for the session user']);
    expect(again.authSession).not.toBe(first.authSession);
    const payload = decodeJwt(again.tokens!.access_token).payload;
    expect(payload.auth_time).toBe(s.clock.now());
    const ok = await client.fetch(`${apiBase}/recent`, { accessToken: again.tokens!.access_token });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ sub: 'alice', acr: ACR_PWD });
  });

  it('acr: a password-only token at an mfa route → 401 with acr_values; a TOTP user satisfies it; a password-only account cannot (access_denied)', async () => {
    const alice = createDPoPClient();
    const a = await signedIn(alice, 'alice');
    const refused = await alice.fetch(`${apiBase}/strong`, { accessToken: a.tokens.access_token });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain(`acr_values="${ACR_MFA}"`);
    expect(stepUpChallenge(refused)!.acrValues).toEqual([ACR_MFA]);
    const err = await stepUp(alice, metadata, refused, { clientId: 'cli', authSession: a.authSession, onPassword: () => 'alice-password' }).catch((e: unknown) => e);
    expect((err as OAuthResponseError).error).toBe('access_denied');

    const bob = createDPoPClient();
    s.clock.advance(60);
    const b = await signedIn(bob, 'bob');
    const ok = await bob.fetch(`${apiBase}/strong`, { accessToken: b.tokens.access_token });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ sub: 'bob', acr: ACR_MFA });
  });

  it('stepUp with an answer that is no step-up challenge → invalid_response', async () => {
    const err = await stepUp(createDPoPClient(), metadata, 'DPoP error="invalid_token"', { clientId: 'cli', onPassword: () => 'x' }).catch((e: unknown) => e);
    expect((err as OAuthResponseError).error).toBe('invalid_response');
  });
});

describe('RFC 8707: signIn and stepUp name the API the tokens are for', () => {
  const API = 'https://api.example';
  const NOTES = 'https://notes.example/v1';
  const MAIL = 'https://mail.example';
  let s: Server_;
  let metadata: AuthorizationServerMetadata;
  const storage = createPGliteStorage();

  beforeAll(async () => {
    s = await startFirstParty(storage, { resources: [API, NOTES, MAIL], tokens: { audience: API } });
    metadata = await discover(s.url);
  });
  afterAll(async () => {
    await s?.close();
    await storage.close();
  });

  const alice = { clientId: 'cli', username: 'alice', onPassword: () => 'alice-password' };
  const audOf = (tokens: { access_token: string } | undefined) => decodeJwt(tokens!.access_token).payload.aud;

  it('resource → the access token\'s aud (several: all of them; none: the server\'s default); an unknown one → OAuthResponseError invalid_target', async () => {
    const client = createDPoPClient();
    expect(audOf((await signIn(client, metadata, { ...alice, resource: NOTES })).tokens)).toBe(NOTES);
    expect(audOf((await signIn(client, metadata, { ...alice, resource: [NOTES, MAIL] })).tokens)).toEqual([NOTES, MAIL]);
    expect(audOf((await signIn(client, metadata, alice)).tokens)).toBe(API);
    const err = await signIn(client, metadata, { ...alice, resource: 'https://unknown.example' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthResponseError);
    expect(err).toMatchObject({ error: 'invalid_target', status: 400 });
  });

  it('stepUp with the same resource → a new token for it; naming another on the auth_session → invalid_target', async () => {
    const client = createDPoPClient();
    const first = await signIn(client, metadata, { ...alice, resource: MAIL });
    const challenge = 'DPoP error="insufficient_user_authentication", max_age="0"';
    const other = await stepUp(client, metadata, challenge, { ...alice, authSession: first.authSession, resource: NOTES }).catch((e: unknown) => e);
    expect(other).toMatchObject({ error: 'invalid_target', status: 400 });
    const again = await stepUp(client, metadata, challenge, { ...alice, authSession: first.authSession, resource: MAIL });
    expect(audOf(again.tokens)).toBe(MAIL);
    expect(decodeJwt(again.tokens!.access_token).payload.auth_time).toBe(s.clock.now());
  });
});
