/**
 * Interop (issue 3): node-oidc-provider 9 as the authorization server. A confidential client
 * gets DPoP-bound access tokens with dpopkit's createProof (client_credentials, answering the
 * provider's use_dpop_nonce if asked); dpopkit's resource server accepts them with a fresh proof
 * and refuses them without a proof, with another key's proof, with a wrong ath, and replayed.
 * JWT access tokens (RFC 9068, verified against the provider's JWKS found by discovery) and
 * opaque ones (through the provider's RFC 7662 introspection endpoint).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair as joseKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProof, findChallenge, generateKeyPair, keyThumbprint, type DPoPKeyPair } from '../../src/index.js';
import { createResourceServer, type ResourceServer } from '../../src/resource-server/index.js';
import { call, raw, startNodeApi, type Running } from '../resource-server/support/http.js';

const JWT_API = 'https://api.example.com';
const OPAQUE_API = 'https://opaque.example.com';

let server: Server;
let issuer: string;
let key: DPoPKeyPair;
let jkt: string;

beforeAll(async () => {
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signing = await joseKeyPair('ES256', { extractable: true });
  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'svc', client_secret: 'svc-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
      { client_id: 'rs', client_secret: 'rs-secret', grant_types: [], response_types: [], redirect_uris: [] },
    ],
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: 'as-1', alg: 'ES256', use: 'sig' }] },
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string | string[]) => oneOf ?? JWT_API,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => {
          if (resource === JWT_API) return { scope: 'read write', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'ES256' } } };
          if (resource === OPAQUE_API) return { scope: 'read', accessTokenFormat: 'opaque', accessTokenTTL: 300 };
          throw new errors.InvalidTarget();
        },
      },
    },
  } as never);
  server.on('request', provider.callback());
  key = await generateKeyPair('ES256', { extractable: true });
  jkt = await keyThumbprint(key);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** client_credentials with a DPoP proof made by dpopkit; one retry on use_dpop_nonce (RFC 9449 §8). */
async function getToken(resource: string, scope: string): Promise<{ access_token: string; token_type: string }> {
  let nonce: string | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const proof = await createProof(key, { htm: 'POST', htu: `${issuer}/token`, ...(nonce ? { nonce } : {}) });
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa('svc:svc-secret')}`, dpop: proof },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }).toString(),
    });
    const body = await res.json() as Record<string, string>;
    if (res.status === 400 && body.error === 'use_dpop_nonce' && res.headers.get('dpop-nonce')) {
      nonce = res.headers.get('dpop-nonce')!;
      continue;
    }
    expect(res.status, JSON.stringify(body)).toBe(200);
    return body as unknown as { access_token: string; token_type: string };
  }
  throw new Error('the provider kept asking for a nonce');
}

function suite(name: string, resource: string, scope: string, makeRs: () => ResourceServer, jwtShaped: boolean) {
  describe(name, () => {
    let token: string;
    let api: Running;
    let rs: ResourceServer;

    beforeAll(async () => {
      const issued = await getToken(resource, scope);
      expect(issued.token_type).toBe('DPoP'); // RFC 9449 §5
      token = issued.access_token;
      expect(token.split('.').length === 3).toBe(jwtShaped);
      rs = makeRs();
      api = await startNodeApi(rs);
    });
    afterAll(async () => {
      await api?.close();
    });

    const lastRefusal = () => Object.keys(rs.metrics().rejected);

    it('RFC 9449 §7.1: the bound token with a fresh dpopkit proof is accepted; cnf.jkt is the client key thumbprint', async () => {
      const res = await call(api.base, '/resource', token, { key });
      expect(res.status).toBe(200);
      expect(res.json()).toMatchObject({ clientId: 'svc', jkt, scheme: 'DPoP' });
      expect(res.json().scopes).toEqual(scope.split(' '));
    });

    it('refused without a proof (401 invalid_dpop_proof) and as Bearer (401 invalid_token, §7.2)', async () => {
      const none = await call(api.base, '/resource', token, { key: null });
      expect(none.status).toBe(401);
      expect(findChallenge(none.headers['www-authenticate'] as string, 'DPoP')!.params.error).toBe('invalid_dpop_proof');
      const bearer = await raw(api.base, '/resource', 'GET', [['Authorization', `Bearer ${token}`]]);
      expect(bearer.status).toBe(401);
      expect(findChallenge(bearer.headers['www-authenticate'] as string, 'Bearer')!.params.error).toBe('invalid_token');
    });

    it('refused with a proof from another key (invalid_token: key binding)', async () => {
      const other = await generateKeyPair('ES256', { extractable: true });
      const res = await call(api.base, '/resource', token, { key: other });
      expect(res.status).toBe(401);
      expect(findChallenge(res.headers['www-authenticate'] as string, 'DPoP')!.params.error).toBe('invalid_token');
      expect(rs.metrics().rejected.jkt_mismatch).toBe(1);
    });

    it('refused with a wrong ath (RFC 9449 §4.3 (12))', async () => {
      const res = await call(api.base, '/resource', token, { key, athToken: `${token}x` });
      expect(res.status).toBe(401);
      expect(rs.metrics().rejected.ath_mismatch).toBe(1);
    });

    it('refused when replayed (RFC 9449 §11.1)', async () => {
      const ok = await call(api.base, '/resource', token, { key });
      expect(ok.status).toBe(200);
      const again = await call(api.base, '/resource', token, { proof: ok.proof! });
      expect(again.status).toBe(401);
      expect(rs.metrics().replays).toBe(1);
      expect(lastRefusal()).toContain('replayed');
    });

  });
}

// The test APIs listen on 127.0.0.1 (any port), not at their audience's origin.
const allowedHosts = ['127.0.0.1'];
suite('node-oidc-provider JWT access tokens (RFC 9068, JWKS by discovery)', JWT_API, 'read write', () => createResourceServer({ issuer, audience: JWT_API, allowedHosts }), true);
suite('node-oidc-provider opaque access tokens (RFC 7662 introspection)', OPAQUE_API, 'read', () => createResourceServer({
  issuer, audience: OPAQUE_API, allowedHosts, introspection: { clientId: 'rs', clientSecret: 'rs-secret' },
}), false);

describe('node-oidc-provider: tokens for another audience', () => {
  it('RFC 9068 §4: a JWT issued for another resource is refused by an RS with a different audience', async () => {
    const { access_token } = await getToken(JWT_API, 'read');
    const rs = createResourceServer({ issuer, audience: 'https://elsewhere.example.com', allowedHosts: ['api.local'] });
    const proof = await createProof(key, { htm: 'GET', htu: 'http://api.local/r', accessToken: access_token });
    const result = await rs.verify({ method: 'GET', url: '/r', headers: { host: 'api.local', authorization: `DPoP ${access_token}`, dpop: proof } });
    expect(result.ok ? 'accepted' : result.reason).toBe('token_bad_audience');
  });
});
