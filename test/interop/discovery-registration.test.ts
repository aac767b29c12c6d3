/**
 * Interop for the walk from an API's URL: protected resource metadata (RFC 9728), dynamic
 * client registration (RFC 7591) and resource indicators (RFC 8707), both ways.
 *
 * - oauth4webapi (panva) reads dpopkit's resource metadata: from the 401's `resource_metadata`
 *   (its WWWAuthenticateChallengeError) and with `resourceDiscoveryRequest` +
 *   `processResourceDiscoveryResponse`, which also refuses a document for another resource.
 * - oauth4webapi registers at dpopkit's authorization server (`dynamicClientRegistrationRequest`)
 *   and runs the code flow with PKCE, DPoP and `resource`; dpopkit's resource server takes the
 *   token, whose `aud` is the resource.
 * - dpopkit's client (`discoverResource`, `register`, `clientCredentials` with `resource`)
 *   against node-oidc-provider 9 with its `registration` and `resourceIndicators` features: a
 *   dpopkit resource server names the provider as its authorization server, and the token the
 *   provider issues for it is accepted there.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair as joseKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import Provider, { errors } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createDPoPClient, discover, discoverResource, register } from '../../src/client/index.js';
import { createResourceServer } from '../../src/resource-server/index.js';
import { dpopNode } from '../../src/resource-server/adapters/node.js';
import { signIn, startServer, STORAGES, type Running } from '../authorization-server/support/harness.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** A node:http API listening now; `serve()` puts a dpopkit resource server (identifier: origin + path) behind it. */
async function listenApi(): Promise<{ origin: string; resource: string; serve(issuer: string, path?: string): void; close(): Promise<void> }> {
  let guard: ReturnType<typeof dpopNode> | undefined;
  const server: Server = createServer((req, res) => void guard!(req, res, () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ sub: req.dpop?.subject, clientId: req.dpop?.clientId, aud: req.dpop?.claims.aud }));
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const api = {
    origin,
    resource: origin,
    serve(issuer: string, path = '') {
      api.resource = `${origin}${path}`;
      guard = dpopNode(createResourceServer({ issuer, audience: api.resource, bearer: 'reject', metadata: { scopesSupported: ['read'] } }));
    },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  return api;
}

describe('oauth4webapi against dpopkit: RFC 9728 metadata, RFC 7591 registration, RFC 8707 resource', () => {
  let as: Running;
  let api: Awaited<ReturnType<typeof listenApi>>;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const opened = await STORAGES[0]!.open();
    cleanup = opened.cleanup;
    api = await listenApi();
    as = await startServer(opened.storage, { resources: [`${api.origin}/v1`], registration: { open: true, throttle: { freeAttempts: 100 } } });
    api.serve(as.url, '/v1');
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await as?.close();
    await cleanup?.();
  });

  it('RFC 9728 §5.1: oauth4webapi finds resource_metadata in the 401 of a request with no usable token', async () => {
    const DPoP = oauth.DPoP({ client_id: 'x' }, await oauth.generateKeyPair('ES256'));
    const err = await oauth.protectedResourceRequest('not-a-token', 'GET', new URL(`${api.origin}/v1/items`), new Headers(), null, { DPoP, ...insecure })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const challenges = (err as oauth.WWWAuthenticateChallengeError).cause;
    const dpop = challenges.find((c) => c.scheme === 'dpop');
    expect(dpop?.parameters.resource_metadata).toBe(`${api.origin}/.well-known/oauth-protected-resource/v1`);
  });

  it('RFC 9728 §3: resourceDiscoveryRequest + processResourceDiscoveryResponse read dpopkit\'s document (path-aware); another identifier is refused (§3.3)', async () => {
    const identifier = new URL(`${api.origin}/v1`);
    const metadata = await oauth.processResourceDiscoveryResponse(identifier, await oauth.resourceDiscoveryRequest(identifier, insecure));
    expect(metadata).toMatchObject({
      resource: `${api.origin}/v1`,
      authorization_servers: [as.url],
      scopes_supported: ['read'],
      bearer_methods_supported: ['header'],
      dpop_bound_access_tokens_required: true,
    });
    expect(metadata.dpop_signing_alg_values_supported).toContain('ES256');
    // The same document, expected for another resource: oauth4webapi refuses it.
    await expect(oauth.processResourceDiscoveryResponse(new URL(`${api.origin}/v2`), await oauth.resourceDiscoveryRequest(identifier, insecure)))
      .rejects.toThrow(/does not match the expected value/);
  });

  it('RFC 7591 + RFC 8707: oauth4webapi registers a public DPoP client, signs in with resource, and the token (aud = resource) is accepted', async () => {
    const meta = await oauth.processDiscoveryResponse(new URL(as.url), await oauth.discoveryRequest(new URL(as.url), { algorithm: 'oauth2', ...insecure }));
    expect(meta.registration_endpoint).toBe(`${as.url}/register`);
    const redirect = 'http://127.0.0.1:49152/cb';
    const registered = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(meta, {
      redirect_uris: [redirect], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], dpop_bound_access_tokens: true,
    }, insecure));
    expect(registered.client_id).toMatch(/^dpk_/);
    const client: oauth.Client = { client_id: registered.client_id, token_endpoint_auth_method: 'none' };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const query = new URLSearchParams({
      response_type: 'code', client_id: client.client_id, redirect_uri: redirect, state, resource: `${api.origin}/v1`,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', dpop_jkt: await DPoP.calculateThumbprint(),
    });
    const callback = new URL(redirect);
    for (const [k, v] of await signIn(as.url, query as unknown as Record<string, string>)) callback.searchParams.set(k, v);
    const params = oauth.validateAuthResponse(meta, client, callback, state);
    const tokens = await oauth.processAuthorizationCodeResponse(meta, client, await oauth.authorizationCodeGrantRequest(meta, client, oauth.None(), params, redirect, verifier, {
      DPoP, additionalParameters: { resource: `${api.origin}/v1` }, ...insecure,
    }));
    expect(tokens.token_type).toBe('dpop');
    const res = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(`${api.origin}/v1/items`), new Headers(), null, { DPoP, ...insecure });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ aud: `${api.origin}/v1`, clientId: registered.client_id });
  });

  it('RFC 7591 §3.2.2: oauth4webapi surfaces dpopkit\'s invalid_redirect_uri', async () => {
    const meta = await oauth.processDiscoveryResponse(new URL(as.url), await oauth.discoveryRequest(new URL(as.url), { algorithm: 'oauth2', ...insecure }));
    const err = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(meta, { redirect_uris: ['http://app.example/cb'] }, insecure))
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.ResponseBodyError);
    expect((err as oauth.ResponseBodyError).error).toBe('invalid_redirect_uri');
  });
});

describe('dpopkit\'s client against node-oidc-provider 9 (registration and resourceIndicators on)', () => {
  let server: Server;
  let issuer: string;
  let api: Awaited<ReturnType<typeof listenApi>>;

  beforeAll(async () => {
    api = await listenApi();
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const signing = await joseKeyPair('ES256', { extractable: true });
    const provider = new Provider(issuer, {
      clientDefaults: { id_token_signed_response_alg: 'ES256' },
      jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: 'op-1', alg: 'ES256', use: 'sig' }] },
      scopes: ['openid', 'read'],
      features: {
        devInteractions: { enabled: false },
        dPoP: { enabled: true },
        clientCredentials: { enabled: true },
        registration: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => undefined,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, resource: string) => {
            if (resource === api.resource) return { scope: 'read', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'ES256' } } };
            throw new errors.InvalidTarget();
          },
        },
      },
    } as never);
    server.on('request', provider.callback());
    api.serve(issuer);
  });
  afterAll(async () => {
    await api?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('discoverResource finds the provider through a dpopkit API; register() registers there; the token for the resource is DPoP-bound and accepted', async () => {
    const found = await discoverResource(`${api.origin}/items`);
    expect(found.issuer).toBe(issuer);
    expect(found.authorizationServer.registration_endpoint).toBe(`${issuer}/reg`);
    const registered = await register(found.authorizationServer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'read', client_name: 'dpopkit interop' });
    expect(registered.client_id).toBeTruthy();
    expect(registered.client_secret).toBeTruthy();
    const client = createDPoPClient();
    const auth = { clientId: registered.client_id, clientSecret: registered.client_secret! };
    const token = await clientCredentials(client, found.authorizationServer, { ...auth, scope: 'read', resource: found.resource });
    expect(token.token_type).toBe('DPoP');
    const payload = JSON.parse(Buffer.from(token.access_token.split('.')[1]!, 'base64url').toString());
    expect(payload.aud).toBe(api.resource);
    expect(payload.cnf.jkt).toBe(await client.thumbprint());
    const res = await client.fetch(`${api.origin}/items`, { accessToken: token.access_token });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ clientId: registered.client_id, aud: api.resource });
  });

  it('RFC 8707: the provider answers invalid_target for an unknown resource; RFC 7591: its registration errors come back as OAuthResponseError', async () => {
    const metadata = await discover(issuer);
    const registered = await register(metadata, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
    await expect(clientCredentials(createDPoPClient(), metadata, { clientId: registered.client_id, clientSecret: registered.client_secret!, resource: 'https://unknown.example' }))
      .rejects.toMatchObject({ error: 'invalid_target' });
    await expect(register(metadata, { redirect_uris: ['not a url'] })).rejects.toMatchObject({ error: expect.stringMatching(/invalid_redirect_uri|invalid_client_metadata/) });
  });
});
