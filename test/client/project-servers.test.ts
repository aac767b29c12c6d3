/**
 * The client library against the project's own authorization server and resource server (real
 * HTTP, PGlite storage), both demanding nonces: the whole public-client story of issue 5 —
 * discovery, authorization code + PKCE + dpop_jkt (and PAR), the token bound to the key,
 * the API call, refresh through the token holder, and a stolen token refused.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizationUrl, clientCredentials, createDPoPClient, createPkce, createTokenHolder, discover, exchangeCode,
  pushAuthorizationRequest, refresh, type AuthorizationServerMetadata,
} from '../../src/client/index.js';
import { dpopWeb } from '../../src/resource-server/adapters/web.js';
import { createResourceServer } from '../../src/resource-server/index.js';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { decodeJwt, REDIRECT, SECRET, signIn, startServer, type Running } from '../authorization-server/support/harness.js';

let as: Running;
let storageClose: () => Promise<void>;
let api: ServerType;
let apiUrl: string;
let metadata: AuthorizationServerMetadata;

beforeAll(async () => {
  const storage = createPGliteStorage();
  storageClose = () => storage.close();
  as = await startServer(storage, { dpop: { nonce: {} } });
  // The API has a port of its own on 127.0.0.1 (its audience is the issuer's URL, another port).
  const rs = createResourceServer({ issuer: as.url, audience: as.url, allowedHosts: ['127.0.0.1'], bearer: 'reject', dpop: { nonce: { secret: 'x'.repeat(32) } } });
  const check = dpopWeb(rs);
  api = await new Promise((resolve) => {
    const s = serve({
      fetch: async (request) => {
        const auth = await check(request);
        if (!auth.ok) return auth.response;
        return Response.json({ subject: auth.principal.subject }, { headers: auth.headers });
      },
      port: 0,
      hostname: '127.0.0.1',
    }, () => resolve(s));
  });
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  metadata = await discover(as.url);
}, 60_000);
afterAll(async () => {
  await new Promise<void>((resolve) => api?.close(() => resolve()));
  await as?.close();
  await storageClose?.();
});

describe('dpopkit/client with the project\'s authorization server and resource server (nonces required on both)', () => {
  it('RFC 9449 §10 + §5 + §7: sign in with code + PKCE + dpop_jkt, token cnf.jkt = the key, API answers; AS and RS nonces kept apart', async () => {
    const client = createDPoPClient();
    const pkce = await createPkce();
    const url = authorizationUrl(metadata, { clientId: 'spa', redirectUri: REDIRECT, scope: 'read', state: 's1', codeChallenge: pkce.codeChallenge, dpopJkt: await client.thumbprint() });
    const back = await signIn(as.url, Object.fromEntries(url.searchParams));
    const token = await exchangeCode(client, metadata, { clientId: 'spa', code: back.get('code')!, redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier, iss: back.get('iss')! });
    expect(token.token_type).toBe('DPoP');
    expect((decodeJwt(token.access_token).payload.cnf as { jkt: string }).jkt).toBe(await client.thumbprint());
    const res = await client.fetch(`${apiUrl}/me?x=1`, { accessToken: token.access_token });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ subject: 'alice' });
    expect(client.nonces.get(as.url)).toBeTypeOf('string');
    expect(client.nonces.get(apiUrl)).toBeTypeOf('string');
    expect(client.nonces.get(apiUrl)).not.toBe(client.nonces.get(as.url));
  });

  it('RFC 9126 PAR with the key\'s dpop_jkt, then a token holder refreshing (rotation) with the same key', async () => {
    const client = createDPoPClient();
    const pkce = await createPkce();
    const url = await pushAuthorizationRequest(client, metadata, { clientId: 'spa', redirectUri: REDIRECT, scope: 'read', state: 's2', codeChallenge: pkce.codeChallenge });
    const back = await signIn(as.url, Object.fromEntries(url.searchParams));
    const initial = await exchangeCode(client, metadata, { clientId: 'spa', code: back.get('code')!, redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier });
    let clock = Date.now() / 1000;
    let refreshes = 0;
    const holder = createTokenHolder(client, {
      initial,
      clock: () => clock,
      refresh: (refreshToken) => { refreshes++; return refresh(client, metadata, { clientId: 'spa', refreshToken }); },
    });
    clock += 3600;
    const tokens = await Promise.all(Array.from({ length: 10 }, () => holder.accessToken()));
    expect(refreshes).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(holder.current()!.refresh_token).not.toBe(initial.refresh_token);
    expect((await holder.fetch(`${apiUrl}/me`)).status).toBe(200);
  });

  it('RFC 9449 §7.1: the token used from another key, or as Bearer, is refused with WWW-Authenticate', async () => {
    const owner = createDPoPClient();
    const token = await clientCredentials(owner, metadata, { clientId: 'confidential', clientSecret: SECRET, scope: 'read' });
    expect((await owner.fetch(`${apiUrl}/me`, { accessToken: token.access_token })).status).toBe(200);
    const thief = createDPoPClient();
    const stolen = await thief.fetch(`${apiUrl}/me`, { accessToken: token.access_token });
    expect(stolen.status).toBe(401);
    expect(stolen.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
    const asBearer = await thief.fetch(`${apiUrl}/me`, { accessToken: token.access_token, tokenType: 'Bearer' });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/DPoP/);
  });
});
