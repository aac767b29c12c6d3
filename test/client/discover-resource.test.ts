/**
 * `discoverResource` (RFC 9728 + RFC 8414), `register` (RFC 7591) and `resource` (RFC 8707) in
 * the client, against dpopkit's resource and authorization servers over real HTTP, and against
 * small hostile servers: an API that points at another API's metadata, a document that claims
 * to be another resource, an issuer that is not the one named, redirects, oversized and slow
 * answers, plain http to a non-loopback host.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizationUrl, clientCredentials, createDPoPClient, createSafeFetch, discover, discoverResource, exchangeCode, OAuthResponseError,
  protectedResourceMetadataUrl, register,
} from '../../src/client/index.js';
import { createResourceServer } from '../../src/resource-server/index.js';
import { dpopNode } from '../../src/resource-server/adapters/node.js';
import { REDIRECT, signIn, startServer as startAuthorizationServer, STORAGES, type Running } from '../authorization-server/support/harness.js';
import { startServer, type TestServer } from './support/servers.js';

async function expectOAuthError(promise: Promise<unknown>, error: string, pattern?: RegExp): Promise<OAuthResponseError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err, String(err)).toBeInstanceOf(OAuthResponseError);
  expect((err as OAuthResponseError).error).toBe(error);
  if (pattern) expect((err as OAuthResponseError).message).toMatch(pattern);
  return err as OAuthResponseError;
}

/** A node:http server listening now; `serve(issuer, path)` puts a dpopkit resource server behind it whose identifier is its origin + `path`. */
async function listenApi(): Promise<{ url: string; resource: string; serve(issuer: string, path?: string): void; close(): Promise<void> }> {
  let guard: ReturnType<typeof dpopNode> | undefined;
  const server: Server = createServer((req, res) => void guard!(req, res, () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ sub: req.dpop?.subject, aud: req.dpop?.claims.aud }));
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const api = {
    url: origin,
    resource: origin,
    serve(issuer: string, path = '') {
      api.resource = `${origin}${path}`;
      guard = dpopNode(createResourceServer({ issuer, audience: api.resource, bearer: 'reject', metadata: { scopesSupported: ['read'], resourceName: 'Notes' } }));
    },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  return api;
}

describe('discoverResource, register and resource against dpopkit', () => {
  let as: Running;
  let api: Awaited<ReturnType<typeof listenApi>>;
  let pathApi: Awaited<ReturnType<typeof listenApi>>;
  let cleanup: () => Promise<void>;
  const fakes: TestServer[] = [];
  const fake = async (handler: Parameters<typeof startServer>[0]) => {
    const f = await startServer(handler);
    fakes.push(f);
    return f;
  };

  beforeAll(async () => {
    const opened = await STORAGES[0]!.open();
    cleanup = opened.cleanup;
    api = await listenApi();
    pathApi = await listenApi();
    as = await startAuthorizationServer(opened.storage, {
      resources: [api.url, `${pathApi.url}/v1`],
      registration: { open: true, throttle: { freeAttempts: 1000 } },
    });
    api.serve(as.url);
    pathApi.serve(as.url, '/v1');
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await pathApi?.close();
    await as?.close();
    for (const f of fakes) await f.close();
    await cleanup?.();
  });

  it('RFC 9728 §5.1 → §3 → RFC 8414: from the API URL alone to the resource identifier and the authorization server', async () => {
    const found = await discoverResource(`${api.url}/notes/42?x=1`);
    expect(found.resource).toBe(api.url);
    expect(found.resourceMetadataUrl).toBe(`${api.url}/.well-known/oauth-protected-resource`);
    expect(found.resourceMetadata).toMatchObject({ resource: api.url, authorization_servers: [as.url], scopes_supported: ['read'], resource_name: 'Notes', dpop_bound_access_tokens_required: true });
    expect(found.issuer).toBe(as.url);
    expect(found.authorizationServer).toMatchObject({ issuer: as.url, registration_endpoint: `${as.url}/register`, protected_resources: [api.url, `${pathApi.url}/v1`] });
  });

  it('a path-aware resource (§3.1): /.well-known/oauth-protected-resource/v1; a 401 already in hand is used without calling the API again', async () => {
    const probe = await fetch(`${pathApi.url}/v1/items`);
    expect(probe.status).toBe(401);
    const found = await discoverResource(`${pathApi.url}/v1/items`, { challenge: probe });
    expect(found.resource).toBe(`${pathApi.url}/v1`);
    expect(found.resourceMetadataUrl).toBe(`${pathApi.url}/.well-known/oauth-protected-resource/v1`);
    expect(protectedResourceMetadataUrl(found.resource)).toBe(found.resourceMetadataUrl);
  });

  it('§3.3 impersonation: an API that names ANOTHER API\'s metadata is refused (a token for that API would be sent to it)', async () => {
    const evil = await fake(() => ({ status: 401, headers: { 'www-authenticate': `DPoP algs="ES256", resource_metadata="${api.url}/.well-known/oauth-protected-resource"` } }));
    await expectOAuthError(discoverResource(`${evil.url}/notes`), 'resource_mismatch', /another resource/);
  });

  it('§3.3 impersonation: a document at an API\'s own well-known URL that claims to be another resource is refused', async () => {
    const evil = await fake((req) => req.url.endsWith('/.well-known/oauth-protected-resource')
      ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resource: api.url, authorization_servers: ['https://evil.example'] }) }
      : { status: 401, headers: { 'www-authenticate': `Bearer resource_metadata="${req.url.replace(/\/notes$/, '')}/.well-known/oauth-protected-resource"` } });
    await expectOAuthError(discoverResource(`${evil.url}/notes`), 'resource_mismatch', /RFC 9728 §3\.3/);
  });

  it('§3.3: a metadata URL of another shape must describe exactly the URL that was called', async () => {
    let self = '';
    const odd = await fake((req) => req.url.endsWith('/meta.json')
      ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resource: `${self}/exact`, authorization_servers: [as.url] }) }
      : { status: 401, headers: { 'www-authenticate': `DPoP resource_metadata="${self}/meta.json"` } });
    self = odd.url;
    await expectOAuthError(discoverResource(`${odd.url}/other`), 'resource_mismatch');
    expect((await discoverResource(`${odd.url}/exact`)).resource).toBe(`${odd.url}/exact`);
  });

  it('§3.1: no resource_metadata in the challenge → the well-known URLs of the API URL (path-aware, then the origin)', async () => {
    let self = '';
    const quiet = await fake((req) => req.url === `${self}/.well-known/oauth-protected-resource`
      ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resource: self, authorization_servers: [as.url] }) }
      : { status: req.url.includes('/.well-known/') ? 404 : 401, headers: { 'www-authenticate': 'Bearer' } });
    self = quiet.url;
    const found = await discoverResource(`${quiet.url}/a/b`);
    expect(found.resource).toBe(quiet.url);
    expect(quiet.seen.map((s) => new URL(s.url).pathname)).toEqual(['/a/b', '/.well-known/oauth-protected-resource/a/b', '/.well-known/oauth-protected-resource']);
    const none = await fake(() => ({ status: 404, body: 'no' }));
    await expectOAuthError(discoverResource(`${none.url}/x`), 'no_resource_metadata');
  });

  it('RFC 8414 §3.3: an authorization server whose metadata names another issuer is refused', async () => {
    let self = '';
    const liar = await fake((req) => {
      if (req.url.includes('/.well-known/oauth-protected-resource')) return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resource: self, authorization_servers: [self] }) };
      if (req.url.includes('/.well-known/oauth-authorization-server')) return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ issuer: as.url, token_endpoint: `${as.url}/token` }) };
      return { status: 401, headers: { 'www-authenticate': `DPoP resource_metadata="${self}/.well-known/oauth-protected-resource"` } };
    });
    self = liar.url;
    await expectOAuthError(discoverResource(`${liar.url}/`), 'issuer_mismatch');
  });

  it('every fetch: no redirects, a size cap, a timeout, https only except loopback', async () => {
    let self = '';
    const redirecting = await fake((req) => req.url.includes('/.well-known/')
      ? { status: 302, headers: { location: `${api.url}/.well-known/oauth-protected-resource` } }
      : { status: 401, headers: { 'www-authenticate': `DPoP resource_metadata="${self}/.well-known/oauth-protected-resource"` } });
    self = redirecting.url;
    await expectOAuthError(discoverResource(`${redirecting.url}/x`), 'redirect_refused', /redirect/);

    const big = await fake(() => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(300_000) }) }));
    await expectOAuthError(createSafeFetch()(`${big.url}/`), 'response_too_large');
    expect((await createSafeFetch({ maxBytes: 400_000 })(`${big.url}/`)).status).toBe(200);

    const slow = await fake(() => new Promise((resolve) => setTimeout(() => resolve({ body: 'late' }), 1500)));
    await expectOAuthError(createSafeFetch({ timeoutMs: 200 })(`${slow.url}/`), 'network_error', /within 200 ms/);

    await expectOAuthError(discoverResource('http://api.example/notes'), 'insecure_url', /not https/);
    await expectOAuthError(createSafeFetch()('ftp://127.0.0.1/x'), 'insecure_url');
    const metadataOverHttp = await fake(() => ({ status: 401, headers: { 'www-authenticate': 'DPoP resource_metadata="http://metadata.example/.well-known/oauth-protected-resource"' } }));
    await expectOAuthError(discoverResource(`${metadataOverHttp.url}/x`), 'insecure_url');
  });

  it('RFC 7591 register(): a public DPoP client with a loopback redirect; the server\'s errors come back as OAuthResponseError', async () => {
    const metadata = await discover(as.url);
    const client = await register(metadata, { client_name: 'test CLI', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] });
    expect(client.client_id).toMatch(/^dpk_/);
    // dpopkit registers DPoP clients unless told otherwise (RFC 9449 §5.2).
    expect(client.dpop_bound_access_tokens).toBe(true);
    const err = await expectOAuthError(register(metadata, { redirect_uris: ['http://evil.example/cb'], token_endpoint_auth_method: 'none' }), 'invalid_redirect_uri');
    expect(err.status).toBe(400);
    await expectOAuthError(register({ issuer: 'https://as.example' }, { redirect_uris: [] }), 'missing_endpoint');
    const confidential = await register(metadata, { grant_types: ['client_credentials'], dpop_bound_access_tokens: false });
    expect(confidential.client_secret).toBeTruthy();
    expect(confidential.dpop_bound_access_tokens).toBe(false);
  });

  it('RFC 8707: a registered client gets a token for the discovered resource (aud) and calls the API; a token for the other API is refused there', async () => {
    const found = await discoverResource(`${api.url}/notes`);
    const registered = await register(found.authorizationServer, { grant_types: ['client_credentials'], scope: 'read' });
    const dpop = createDPoPClient();
    const auth = { clientId: registered.client_id, clientSecret: registered.client_secret! };
    const token = await clientCredentials(dpop, found.authorizationServer, { ...auth, resource: found.resource });
    const ok = await dpop.fetch(`${api.url}/notes`, { accessToken: token.access_token });
    expect(ok.status).toBe(200);
    expect((await ok.json()).aud).toBe(api.url);
    const forOther = await clientCredentials(dpop, found.authorizationServer, { ...auth, resource: `${pathApi.url}/v1` });
    expect((await dpop.fetch(`${api.url}/notes`, { accessToken: forOther.access_token })).status).toBe(401);
    // Both at once: an aud of two values, accepted by both.
    const both = await clientCredentials(dpop, found.authorizationServer, { ...auth, resource: [api.url, `${pathApi.url}/v1`] });
    expect((await dpop.fetch(`${pathApi.url}/v1/items`, { accessToken: both.access_token })).status).toBe(200);
    await expectOAuthError(clientCredentials(dpop, found.authorizationServer, { ...auth, resource: 'https://unknown.example' }), 'invalid_target');
  });

  it('RFC 8707: authorizationUrl repeats resource; exchangeCode narrows', async () => {
    const metadata = await discover(as.url);
    const url = authorizationUrl(metadata, { clientId: 'spa', redirectUri: REDIRECT, state: 's', codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', resource: [api.url, `${pathApi.url}/v1`] });
    expect(url.searchParams.getAll('resource')).toEqual([api.url, `${pathApi.url}/v1`]);
    const dpop = createDPoPClient();
    const { createPkce } = await import('../../src/client/index.js');
    const pkce = await createPkce();
    const start = authorizationUrl(metadata, { clientId: 'spa', redirectUri: REDIRECT, state: 's', scope: 'read', codeChallenge: pkce.codeChallenge, dpopJkt: await dpop.thumbprint(), resource: [api.url, `${pathApi.url}/v1`] });
    const back = await signIn(as.url, start.searchParams as unknown as Record<string, string>);
    const token = await exchangeCode(dpop, metadata, { clientId: 'spa', code: back.get('code')!, redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier, iss: back.get('iss')!, resource: `${pathApi.url}/v1` });
    expect((await dpop.fetch(`${pathApi.url}/v1/x`, { accessToken: token.access_token })).status).toBe(200);
    expect((await dpop.fetch(`${api.url}/x`, { accessToken: token.access_token })).status).toBe(401);
  });
});
