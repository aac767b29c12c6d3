/**
 * Interop: oauth4webapi (panva), using its own DPoP support (`DPoP(client, keyPair)`, its nonce
 * cache and `isDPoPNonceError`), against dpopkit's authorization server over real HTTP; the
 * tokens it gets are accepted by dpopkit's resource server (JWKS discovered from the issuer).
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResourceServer, type ResourceServer } from '../../src/resource-server/index.js';
import { REDIRECT, SECRET, signIn, startServer, STORAGES, type Running } from '../authorization-server/support/harness.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

async function startApi(rs: ResourceServer): Promise<{ url: string; close(): Promise<void> }> {
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: async (request) => {
        const result = await rs.verify({ method: request.method, url: request.url, headers: request.headers });
        if (!result.ok) return new Response(JSON.stringify(result.body), { status: result.status, headers: result.headers });
        return Response.json({ sub: result.principal.subject ?? null, principal: result.principal }, { headers: result.headers });
      },
    }, () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/me`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('oauth4webapi against the dpopkit authorization server', () => {
  let as: Running;
  let nonceAs: Running;
  let api: { url: string; close(): Promise<void> };
  let cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const a = await STORAGES[0]!.open();
    const b = await STORAGES[0]!.open();
    cleanups = [a.cleanup, b.cleanup];
    as = await startServer(a.storage, { tokens: { audience: 'https://api.example' } });
    nonceAs = await startServer(b.storage, { dpop: { nonce: {} }, tokens: { audience: 'https://api.example' } });
    // The API listens on 127.0.0.1 (any port), not at its audience's origin.
    api = await startApi(createResourceServer({ issuer: as.url, audience: 'https://api.example', allowedHosts: ['127.0.0.1'], bearer: 'reject' }));
  });
  afterAll(async () => {
    await api?.close();
    await as?.close();
    await nonceAs?.close();
    for (const c of cleanups) await c();
  });

  async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
    const url = new URL(issuer);
    return oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { algorithm: 'oauth2', ...insecure }));
  }

  async function callApi(accessToken: string, DPoP: oauth.DPoPHandle): Promise<Response> {
    return oauth.protectedResourceRequest(accessToken, 'GET', new URL(api.url), new Headers(), null, { DPoP, ...insecure });
  }

  it('RFC 9449 §5: client_credentials with a DPoP handle; the RS accepts the token with a proof', async () => {
    const meta = await discover(as.url);
    expect(meta.dpop_signing_alg_values_supported).toContain('ES256');
    const client: oauth.Client = { client_id: 'confidential' };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const response = await oauth.clientCredentialsGrantRequest(meta, client, oauth.ClientSecretBasic(SECRET), { scope: 'read' }, { DPoP, ...insecure });
    const tokens = await oauth.processClientCredentialsResponse(meta, client, response);
    expect(tokens.token_type).toBe('dpop'); // oauth4webapi lower-cases token_type
    const res = await callApi(tokens.access_token, DPoP);
    expect(res.status).toBe(200);
    expect((await res.json()).principal).toMatchObject({ clientId: 'confidential' });
  });

  it('RFC 9449 §10: authorization code + PKCE + dpop_jkt (sign-in driven with fetch), then a refresh (§5 bound refresh token)', async () => {
    const meta = await discover(as.url);
    const client: oauth.Client = { client_id: 'spa' };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const query = {
      response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read write', state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      dpop_jkt: await DPoP.calculateThumbprint(),
    };
    const callback = new URL(REDIRECT);
    for (const [k, v] of await signIn(as.url, query)) callback.searchParams.set(k, v);
    // RFC 9207: oauth4webapi checks iss because the metadata says it is supported.
    const params = oauth.validateAuthResponse(meta, client, callback, state);
    const response = await oauth.authorizationCodeGrantRequest(meta, client, oauth.None(), params, REDIRECT, verifier, { DPoP, ...insecure });
    const tokens = await oauth.processAuthorizationCodeResponse(meta, client, response);
    expect(tokens.token_type).toBe('dpop');
    expect(tokens.refresh_token).toBeTruthy();
    expect((await callApi(tokens.access_token, DPoP)).status).toBe(200);

    const refreshed = await oauth.processRefreshTokenResponse(meta, client,
      await oauth.refreshTokenGrantRequest(meta, client, oauth.None(), tokens.refresh_token!, { DPoP, ...insecure }));
    expect(refreshed.token_type).toBe('dpop');
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await callApi(refreshed.access_token, DPoP)).status).toBe(200);

    // Another key cannot use the bound refresh token.
    const thief = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const stolen = await oauth.refreshTokenGrantRequest(meta, client, oauth.None(), refreshed.refresh_token!, { DPoP: thief, ...insecure });
    await expect(oauth.processRefreshTokenResponse(meta, client, stolen)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('RFC 9126 + RFC 9449 §10.1: PAR with oauth4webapi (its DPoP header binds the code), then the code exchange', async () => {
    const meta = await discover(as.url);
    const client: oauth.Client = { client_id: 'spa' };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const verifier = oauth.generateRandomCodeVerifier();
    const pushed = await oauth.processPushedAuthorizationResponse(meta, client, await oauth.pushedAuthorizationRequest(meta, client, oauth.None(), {
      response_type: 'code', redirect_uri: REDIRECT, scope: 'read', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, { DPoP, ...insecure }));
    expect(pushed.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const callback = new URL(REDIRECT);
    for (const [k, v] of await signIn(as.url, { client_id: 'spa', request_uri: pushed.request_uri })) callback.searchParams.set(k, v);
    const params = oauth.validateAuthResponse(meta, client, callback, oauth.expectNoState);
    const tokens = await oauth.processAuthorizationCodeResponse(meta, client,
      await oauth.authorizationCodeGrantRequest(meta, client, oauth.None(), params, REDIRECT, verifier, { DPoP, ...insecure }));
    expect(tokens.token_type).toBe('dpop');
    expect((await callApi(tokens.access_token, DPoP)).status).toBe(200);
  });

  it('RFC 9449 §8: with nonces required, oauth4webapi gets use_dpop_nonce, learns the nonce and succeeds on its retry', async () => {
    const meta = await discover(nonceAs.url);
    const client: oauth.Client = { client_id: 'confidential' };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const request = () => oauth.clientCredentialsGrantRequest(meta, client, oauth.ClientSecretBasic(SECRET), { scope: 'read' }, { DPoP, ...insecure });
    let sawNonceError = false;
    let tokens: oauth.TokenEndpointResponse;
    try {
      tokens = await oauth.processClientCredentialsResponse(meta, client, await request());
    } catch (err) {
      expect(oauth.isDPoPNonceError(err)).toBe(true);
      sawNonceError = true;
      tokens = await oauth.processClientCredentialsResponse(meta, client, await request());
    }
    expect(sawNonceError).toBe(true);
    expect(tokens.token_type).toBe('dpop');
    // The handle keeps the nonce from the success response: the next request needs no retry.
    const again = await oauth.processClientCredentialsResponse(meta, client, await request());
    expect(again.token_type).toBe('dpop');
  });
});
