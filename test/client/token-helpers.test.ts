/**
 * Token helpers against a small real authorization server (test/client/support/mini-as.ts) that
 * verifies every proof with core's verifyProof, checks PKCE and dpop_jkt, and demands nonces.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  authorizationUrl, clientCredentials, createDPoPClient, createPkce, discover, exchangeCode, OAuthResponseError,
  pushAuthorizationRequest, refresh, type AuthorizationServerMetadata, type DPoPClient,
} from '../../src/client/index.js';
import { metadataUrls } from '../../src/client/oauth/discovery.js';
import { decodeJsonSegment } from '../../src/core/proof/parse.js';
import { CLIENTS, startMiniAs, type MiniAsOptions } from './support/mini-as.js';
import { startServer, type TestServer } from './support/servers.js';

const servers: TestServer[] = [];
afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });
async function as(options: MiniAsOptions = {}) {
  const s = await startMiniAs(options);
  servers.push(s);
  return s;
}
const REDIRECT = CLIENTS.pub!.redirectUri!;

/** Follow the authorize URL as a browser would, returning the redirect's parameters. */
async function authorize(url: URL): Promise<URLSearchParams> {
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!).searchParams;
}

async function expectOAuthError(promise: Promise<unknown>, error: string, status?: number): Promise<OAuthResponseError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(OAuthResponseError);
  expect((err as OAuthResponseError).error).toBe(error);
  if (status !== undefined) expect((err as OAuthResponseError).status).toBe(status);
  return err as OAuthResponseError;
}

describe('RFC 8414 discovery', () => {
  it('§3.1 the well-known segment goes between host and path; OIDC location appended', () => {
    expect(metadataUrls('https://as.example/tenant/1')).toEqual([
      'https://as.example/.well-known/oauth-authorization-server/tenant/1',
      'https://as.example/tenant/1/.well-known/openid-configuration',
    ]);
    expect(metadataUrls('https://as.example')[0]).toBe('https://as.example/.well-known/oauth-authorization-server');
  });

  it('§3 fetches /.well-known/oauth-authorization-server{path} and returns the metadata', async () => {
    const server = await as({ issuerPath: '/tenant' });
    const metadata = await discover(server.issuer);
    expect(metadata.issuer).toBe(server.issuer);
    expect(metadata.token_endpoint).toBe(`${server.issuer}/token`);
    expect(server.seen[0]!.url).toBe(`${server.url}/.well-known/oauth-authorization-server/tenant`);
  });

  it('falls back to /.well-known/openid-configuration when the RFC 8414 location is not found', async () => {
    const server = await as({ oidcOnly: true });
    const metadata = await discover(server.issuer);
    expect(metadata.issuer).toBe(server.issuer);
    expect(server.seen.map((s) => new URL(s.url).pathname)).toEqual(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']);
  });

  it('§3.3 an issuer that differs from the one asked for (even by a trailing slash) is refused', async () => {
    const server = await as({ claimIssuer: 'https://evil.example' });
    const err = await expectOAuthError(discover(server.issuer), 'issuer_mismatch', 200);
    expect(err.message).toContain('evil.example');
    const again = await as();
    await expectOAuthError(discover(`${again.issuer}/`), 'issuer_mismatch');
  });

  it('no metadata anywhere → invalid_response with the last status; unreachable → network_error', async () => {
    const empty = await startServer(() => ({ status: 404 }));
    servers.push(empty);
    await expectOAuthError(discover(empty.url), 'invalid_response', 404);
    const closed = await startServer(() => ({}));
    await closed.close();
    await expectOAuthError(discover(closed.url), 'network_error', 0);
  });
});

describe('RFC 7636 PKCE and the authorize URL', () => {
  it('§4.1/§4.2 createPkce: 43-character verifier, challenge = BASE64URL(SHA256(verifier)), S256', async () => {
    const pkce = await createPkce();
    expect(pkce.codeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pkce.codeChallenge).toBe(createHash('sha256').update(pkce.codeVerifier).digest('base64url'));
    expect(pkce.method).toBe('S256');
    expect((await createPkce()).codeVerifier).not.toBe(pkce.codeVerifier);
  });

  it('RFC 9449 §10 authorizationUrl carries response_type=code, S256 challenge, state and dpop_jkt', () => {
    const url = authorizationUrl({ issuer: 'https://as.example', authorization_endpoint: 'https://as.example/authorize?tenant=a' }, {
      clientId: 'pub', redirectUri: REDIRECT, scope: 'read', state: 'st', codeChallenge: 'cc', dpopJkt: 'jkt-1', extra: { prompt: 'login' },
    });
    const p = url.searchParams;
    expect(url.origin + url.pathname).toBe('https://as.example/authorize');
    expect(Object.fromEntries(p)).toEqual({
      tenant: 'a', prompt: 'login', response_type: 'code', client_id: 'pub', redirect_uri: REDIRECT, scope: 'read', state: 'st',
      code_challenge: 'cc', code_challenge_method: 'S256', dpop_jkt: 'jkt-1',
    });
    expect(() => authorizationUrl({ issuer: 'x' }, { clientId: 'a', redirectUri: REDIRECT, state: 's', codeChallenge: 'c' })).toThrow(/authorization_endpoint/);
  });
});

describe('RFC 9449 §5 / §10 authorization code with PKCE and DPoP', () => {
  async function signIn(client: DPoPClient, metadata: AuthorizationServerMetadata, opts: { par?: boolean } = {}) {
    const pkce = await createPkce();
    const request = { clientId: 'pub', redirectUri: REDIRECT, scope: 'read', state: 'xyz', codeChallenge: pkce.codeChallenge };
    const url = opts.par
      ? await pushAuthorizationRequest(client, metadata, request)
      : authorizationUrl(metadata, { ...request, dpopJkt: await client.thumbprint() });
    const back = await authorize(url);
    expect(back.get('state')).toBe('xyz');
    return { pkce, code: back.get('code')!, iss: back.get('iss')! };
  }

  it('§10 authorize with dpop_jkt → exchangeCode: a DPoP token bound to the client key (cnf.jkt)', async () => {
    const server = await as();
    const metadata = await discover(server.issuer);
    const client = createDPoPClient();
    const { pkce, code, iss } = await signIn(client, metadata);
    const token = await exchangeCode(client, metadata, { clientId: 'pub', code, redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier, iss });
    expect(token.token_type).toBe('DPoP');
    expect(token.expires_at).toBeGreaterThan(Date.now() / 1000);
    expect(server.tokens.get(token.access_token)!.jkt).toBe(await client.thumbprint());
    const sent = server.seen.find((s) => s.url.endsWith('/token'))!;
    expect(new URLSearchParams(sent.body).get('code_verifier')).toBe(pkce.codeVerifier);
  });

  it('§8 + auth0/nextjs-auth0 #2390: the code exchange also retries once on use_dpop_nonce, and the code is redeemed', async () => {
    const server = await as({ requireNonce: true });
    const metadata = await discover(server.issuer);
    const client = createDPoPClient();
    const { pkce, code } = await signIn(client, metadata);
    const token = await exchangeCode(client, metadata, { clientId: 'pub', code, redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier });
    expect(token.token_type).toBe('DPoP');
    const tokenCalls = server.seen.filter((s) => s.url.endsWith('/token'));
    expect(tokenCalls).toHaveLength(2);
    expect(decodeJsonSegment(String(tokenCalls[1]!.headers.dpop).split('.')[1]!, 'payload').nonce).toBe(server.nonces.value);
  });

  it('RFC 9126 + §10.1 PAR: pushed with a proof and dpop_jkt defaulting to the key; authorize URL has only client_id and request_uri', async () => {
    const server = await as({ requireNonce: true });
    const metadata = await discover(server.issuer);
    const client = createDPoPClient();
    const { pkce, code } = await signIn(client, metadata, { par: true });
    const par = server.seen.filter((s) => s.url.endsWith('/par'));
    expect(par).toHaveLength(2); // nonce retry at PAR too
    expect(new URLSearchParams(par[1]!.body).get('dpop_jkt')).toBe(await client.thumbprint());
    const token = await exchangeCode(client, metadata, { clientId: 'pub', code, redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier });
    expect(server.tokens.get(token.access_token)!.jkt).toBe(await client.thumbprint());
  });

  it('PAR URL carries client_id and request_uri only', async () => {
    const server = await as();
    const metadata = await discover(server.issuer);
    const url = await pushAuthorizationRequest(createDPoPClient(), metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret!, redirectUri: REDIRECT, state: 's', codeChallenge: 'c' });
    expect([...url.searchParams.keys()]).toEqual(['client_id', 'request_uri']);
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    await expectOAuthError(pushAuthorizationRequest(createDPoPClient(), metadata, { clientId: 'conf', clientSecret: 'wrong', redirectUri: REDIRECT, state: 's', codeChallenge: 'c' }), 'invalid_client', 401);
  });

  it('§10: a code bound (dpop_jkt) to another key cannot be redeemed by this one', async () => {
    const server = await as();
    const metadata = await discover(server.issuer);
    const owner = createDPoPClient();
    const thief = createDPoPClient();
    const { pkce, code } = await signIn(owner, metadata);
    await expectOAuthError(exchangeCode(thief, metadata, { clientId: 'pub', code, redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier }), 'invalid_dpop_proof', 400);
  });

  it('RFC 7636 §4.6: a wrong code_verifier → OAuthResponseError invalid_grant (status 400, description kept)', async () => {
    const server = await as();
    const metadata = await discover(server.issuer);
    const client = createDPoPClient();
    const { code } = await signIn(client, metadata);
    const err = await expectOAuthError(exchangeCode(client, metadata, { clientId: 'pub', code, redirectUri: REDIRECT, codeVerifier: (await createPkce()).codeVerifier }), 'invalid_grant', 400);
    expect(err.error_description).toBe('PKCE verification failed');
    expect(err.response?.status).toBe(400);
    // RFC field names; the Response is there but not enumerable (as oauth4webapi's errors).
    expect(err).toMatchObject({ name: 'OAuthResponseError', error: 'invalid_grant', error_description: 'PKCE verification failed', status: 400 });
    expect(Object.keys(err)).not.toContain('response');
    expect('errorDescription' in err).toBe(false);
  });

  it('RFC 9207 §2.4: an iss that is not the metadata issuer stops the exchange before the code is sent', async () => {
    const server = await as();
    const metadata = await discover(server.issuer);
    const client = createDPoPClient();
    const { pkce, code } = await signIn(client, metadata);
    const before = server.seen.length;
    await expectOAuthError(exchangeCode(client, metadata, { clientId: 'pub', code, redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier, iss: 'https://mixup.example' }), 'invalid_issuer', 0);
    expect(server.seen.length).toBe(before);
  });
});

describe('RFC 6749 §4.4 client credentials, §6 refresh', () => {
  it('client_secret_basic (form-encoded id and secret, §2.3.1) → DPoP token bound to the key', async () => {
    const server = await as();
    const client = createDPoPClient();
    const token = await clientCredentials(client, { tokenEndpoint: `${server.issuer}/token` }, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret!, scope: 'read write' });
    expect(token.token_type).toBe('DPoP');
    expect(token.scope).toBe('read write');
    expect(server.tokens.get(token.access_token)!.jkt).toBe(await client.thumbprint());
    expect(server.seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from('conf:p%40ss+word%3A%2F%2B').toString('base64')}`);
  });

  it('client_secret_post puts the credentials in the body', async () => {
    const server = await as();
    const token = await clientCredentials(createDPoPClient(), { tokenEndpoint: `${server.issuer}/token` }, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret!, authMethod: 'client_secret_post' });
    expect(token.token_type).toBe('DPoP');
    const body = new URLSearchParams(server.seen[0]!.body);
    expect(body.get('client_secret')).toBe(CLIENTS.conf!.secret);
    expect(server.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('§8: a token endpoint demanding a nonce gets exactly one retry, then the token', async () => {
    const server = await as({ requireNonce: true });
    const client = createDPoPClient();
    const metadata = await discover(server.issuer);
    await clientCredentials(client, metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret! });
    await clientCredentials(client, metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret! });
    expect(server.seen.filter((s) => s.url.endsWith('/token'))).toHaveLength(3); // 2 + 1: nonce remembered
  });

  it('RFC 9449 §5: token_type Bearer after a proof is refused (downgrade) unless allowBearer; "dpop" in any case is accepted', async () => {
    const bearer = await as({ tokenType: 'Bearer' });
    const target = { tokenEndpoint: `${bearer.issuer}/token` };
    const auth = { clientId: 'conf', clientSecret: CLIENTS.conf!.secret! };
    const err = await expectOAuthError(clientCredentials(createDPoPClient(), target, auth), 'token_type_mismatch', 200);
    expect(err.message).toContain('Bearer');
    expect((await clientCredentials(createDPoPClient(), target, { ...auth, allowBearer: true })).token_type).toBe('Bearer');
    const lower = await as({ tokenType: 'dpop' });
    expect((await clientCredentials(createDPoPClient(), { tokenEndpoint: `${lower.issuer}/token` }, auth)).token_type).toBe('dpop');
  });

  it('RFC 6749 §5.2: server errors become OAuthResponseError with error, description and status; non-JSON → invalid_response', async () => {
    const server = await as();
    await expectOAuthError(clientCredentials(createDPoPClient(), { tokenEndpoint: `${server.issuer}/token` }, { clientId: 'pub' }), 'unauthorized_client', 400);
    const broken = await startServer(() => ({ status: 502, headers: { 'content-type': 'text/html' }, body: '<h1>bad gateway</h1>' }));
    servers.push(broken);
    await expectOAuthError(clientCredentials(createDPoPClient(), { tokenEndpoint: `${broken.url}/token` }, { clientId: 'x', clientSecret: 'y' }), 'invalid_response', 502);
    const ok = await startServer(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"token_type":"DPoP"}' }));
    servers.push(ok);
    await expectOAuthError(clientCredentials(createDPoPClient(), { tokenEndpoint: `${ok.url}/token` }, { clientId: 'x', clientSecret: 'y' }), 'invalid_response', 200);
    await expectOAuthError(clientCredentials(createDPoPClient(), { issuer: 'x' }, { clientId: 'x' }), 'missing_endpoint');
  });

  it('an unreachable token endpoint → OAuthResponseError network_error (status 0), not a crash', async () => {
    const closed = await startServer(() => ({}));
    await closed.close();
    await expectOAuthError(clientCredentials(createDPoPClient(), { tokenEndpoint: `${closed.url}/token` }, { clientId: 'x', clientSecret: 'y' }), 'network_error', 0);
  });

  it('§6 refresh with rotation: the new refresh token replaces the old, which is spent', async () => {
    const server = await as();
    const metadata = await discover(server.issuer);
    const client = createDPoPClient();
    const first = await clientCredentials(client, metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret! });
    const second = await refresh(client, metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret!, refreshToken: first.refresh_token! });
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    await expectOAuthError(refresh(client, metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret!, refreshToken: first.refresh_token! }), 'invalid_grant', 400);
  });

  it('§6 refresh without rotation: the old refresh token is kept in the response', async () => {
    const server = await as({ rotateRefreshTokens: false });
    const metadata = await discover(server.issuer);
    const client = createDPoPClient();
    const first = await clientCredentials(client, metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret! });
    const second = await refresh(client, metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret!, refreshToken: first.refresh_token! });
    expect(second.refresh_token).toBe(first.refresh_token);
  });

  it('RFC 9449 §5: a refresh token bound to one key is refused with another (so rotateKey needs new tokens)', async () => {
    const server = await as();
    const metadata = await discover(server.issuer);
    const client = createDPoPClient();
    const first = await clientCredentials(client, metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret! });
    await client.rotateKey();
    await expectOAuthError(refresh(client, metadata, { clientId: 'conf', clientSecret: CLIENTS.conf!.secret!, refreshToken: first.refresh_token! }), 'invalid_dpop_proof', 400);
  });
});
