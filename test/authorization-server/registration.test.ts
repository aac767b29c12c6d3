/**
 * RFC 7591 dynamic client registration over real HTTP on PGlite and PostgreSQL: open and with
 * an initial access token; every validation error (`invalid_redirect_uri`,
 * `invalid_client_metadata`); RFC 8252 redirect URIs (https, loopback on any port, private-use
 * schemes); RFC 9449 §5.2 `dpop_bound_access_tokens`; `private_key_jwt` with `jwks` and
 * `jwks_uri` (weak keys refused); the per-address throttle and the cap; a registration never
 * takes a configured client's id; metadata (`registration_endpoint`,
 * `dpop_bound_access_tokens_required`); and registered clients surviving a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage } from '../../src/authorization-server/storage.js';
import { createPGliteStorage, createPostgresStorage } from '../../src/stores/postgres.js';
import { IDENTITY_JWK } from '../security/support/forgeries.js';
import { basic, decodeJwt, dpopKey, PG_URL, pkce, postForm, signIn, startServer, STORAGES, type DPoPKey, type Running, dropSchemas } from './support/harness.js';

const IAT = 'initial-access-token-for-tests-0123456789';

/** POST client metadata as JSON. */
function registerAt(server: Running, metadata: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof metadata === 'string' ? metadata : JSON.stringify(metadata),
  });
}

async function assertion(clientId: string, audience: string, privateKey: CryptoKey, kid: string): Promise<string> {
  return new SignJWT({ jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(clientId).setSubject(clientId).setAudience(audience)
    .setIssuedAt().setExpirationTime('60s')
    .sign(privateKey);
}

describe.each(STORAGES)('RFC 7591 dynamic client registration on $name', (factory) => {
  let open: Running;
  let gated: Running;
  let jwksServed: Record<string, unknown> = { keys: [] };
  const cleanups: Array<() => Promise<void>> = [];
  let key: DPoPKey;

  beforeAll(async () => {
    const a = await factory.open();
    const b = await factory.open();
    cleanups.push(a.cleanup, b.cleanup);
    open = await startServer(a.storage, {
      registration: {
        open: true,
        // Tests register many clients from one address.
        throttle: { freeAttempts: 1000 },
        // Serves registered clients' jwks_uri (https://keys.example/…) without a network.
        fetch: async (url) => (url === 'https://keys.example/jwks.json' ? Response.json(jwksServed) : new Response('no', { status: 404 })),
      },
    });
    gated = await startServer(b.storage, { registration: { initialAccessTokens: [IAT] } });
    key = await dpopKey();
  });
  afterAll(async () => {
    await open?.close();
    await gated?.close();
    for (const c of cleanups) await c();
  });

  const expectError = async (res: Response, error: string, pattern?: RegExp) => {
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(error === 'invalid_token' ? 401 : 400);
    expect(body.error).toBe(error);
    if (pattern) expect(body.error_description).toMatch(pattern);
  };

  it('RFC 8414: registration_endpoint in the metadata only when registration is on', async () => {
    const meta = await (await fetch(`${open.url}/.well-known/oauth-authorization-server`)).json();
    expect(meta.registration_endpoint).toBe(`${open.url}/register`);
    expect(meta.dpop_bound_access_tokens_required).toBeUndefined();
    const opened = await factory.open();
    const off = await startServer(opened.storage);
    try {
      expect((await (await fetch(`${off.url}/.well-known/oauth-authorization-server`)).json()).registration_endpoint).toBeUndefined();
      expect((await registerAt(off, { redirect_uris: ['https://app.example/cb'] })).status).toBe(404);
    } finally {
      await off.close();
      await opened.cleanup();
    }
  });

  it('§3.2.1: a confidential client gets 201, a client_id, a secret that never expires and its metadata; the secret works at /token', async () => {
    const res = await registerAt(open, { client_name: 'Worker', grant_types: ['client_credentials'], scope: 'read', client_id: 'confidential' });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const client = await res.json();
    expect(client).toMatchObject({
      client_name: 'Worker', grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read', dpop_bound_access_tokens: false, client_secret_expires_at: 0, redirect_uris: [],
    });
    // A client_id in the request is ignored: the server chooses, and never a configured one's.
    expect(client.client_id).toMatch(/^dpk_[A-Za-z0-9_-]{24}$/);
    expect(client.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(client.client_id_issued_at).toBeGreaterThan(1_700_000_000);
    const token = await postForm(`${open.url}/token`, { grant_type: 'client_credentials' }, { auth: basic(client.client_id, client.client_secret) });
    expect(token.status).toBe(200);
    expect(decodeJwt((await token.json()).access_token).payload.client_id).toBe(client.client_id);
    expect((await postForm(`${open.url}/token`, { grant_type: 'client_credentials' }, { auth: basic(client.client_id, 'wrong') })).status).toBe(401);
    // The configured client with that id is untouched.
    expect((await postForm(`${open.url}/token`, { grant_type: 'client_credentials', scope: 'read' }, { auth: basic('confidential', 'correct-horse-battery-staple') })).status).toBe(200);
  });

  it('RFC 8252 §7.3 + RFC 9449 §5.2: a native public client registers a loopback redirect and signs in on any port; it must send proofs', async () => {
    const res = await registerAt(open, {
      client_name: 'CLI', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'], dpop_bound_access_tokens: true,
    });
    const client = await res.json();
    expect(res.status, JSON.stringify(client)).toBe(201);
    expect(client.client_secret).toBeUndefined();
    expect(client).toMatchObject({ response_types: ['code'], dpop_bound_access_tokens: true, token_endpoint_auth_method: 'none' });
    const redirect = 'http://127.0.0.1:53117/callback';
    const p = pkce();
    const back = await signIn(open.url, { response_type: 'code', client_id: client.client_id, redirect_uri: redirect, state: 's', code_challenge: p.challenge, code_challenge_method: 'S256', dpop_jkt: key.jkt });
    const code = back.get('code')!;
    const body = { grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: p.verifier, client_id: client.client_id };
    // §5.2: no proof → refused.
    const bare = await postForm(`${open.url}/token`, body);
    expect((await bare.json()).error).toMatch(/invalid_dpop_proof|invalid_grant/);
    const ok = await postForm(`${open.url}/token`, body, { dpop: await key.proof(`${open.url}/token`) });
    const tokens = await ok.json();
    expect(ok.status, JSON.stringify(tokens)).toBe(200);
    expect(tokens.token_type).toBe('DPoP');
    // Another path, another host or https on that port are not the registered loopback URI.
    for (const other of ['http://127.0.0.1:53117/other', 'http://localhost:53117/callback', 'http://127.0.0.1:53117/callback/../callback', 'http://[::1]:53117/callback']) {
      const page = await fetch(`${open.url}/authorize?${new URLSearchParams({ ...body, response_type: 'code', redirect_uri: other, code_challenge: p.challenge, code_challenge_method: 'S256' })}`, { redirect: 'manual' });
      expect(page.status, other).toBe(400);
    }
  });

  it('a configured client\'s loopback redirect URI still needs an exact match (its port included)', async () => {
    const p = pkce();
    const page = await fetch(`${open.url}/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'spa', redirect_uri: 'http://127.0.0.1:10/callback', code_challenge: p.challenge, code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect(page.status).toBe(400);
  });

  it('RFC 8252 §7.1: a private-use scheme in reverse domain-name form is accepted', async () => {
    const res = await registerAt(open, { redirect_uris: ['com.example.app:/oauth2redirect', 'https://app.example/cb', 'http://[::1]:8080/cb'], token_endpoint_auth_method: 'none' });
    expect(res.status).toBe(201);
  });

  it.each([
    ['plain http to another host', 'http://app.example/cb', /loopback/],
    ['localhost (RFC 8252 §8.3)', 'http://localhost:8080/cb', /127\.0\.0\.1/],
    ['a fragment', 'https://app.example/cb#x', /fragment/],
    ['javascript:', 'javascript:alert(1)', /scheme/],
    ['data:', 'data:text/html,hi', /scheme/],
    ['file:', 'file:///etc/passwd', /scheme/],
    ['a private-use scheme without a dot', 'myapp:/cb', /reverse domain/],
    ['user information', 'https://user:pw@app.example/cb', /user information/],
    ['not a URI', 'not a uri', /absolute URI|spaces/],
    ['a relative reference', '/cb', /absolute URI/],
  ])('invalid_redirect_uri: %s', async (_name, uri, pattern) => {
    await expectError(await registerAt(open, { redirect_uris: [uri], token_endpoint_auth_method: 'none' }), 'invalid_redirect_uri', pattern);
  });

  it('invalid_redirect_uri: the code grant without redirect_uris, or redirect_uris that is not an array', async () => {
    await expectError(await registerAt(open, { token_endpoint_auth_method: 'none' }), 'invalid_redirect_uri', /required/);
    await expectError(await registerAt(open, { redirect_uris: 'https://app.example/cb' }), 'invalid_redirect_uri');
  });

  it.each([
    ['an unknown token_endpoint_auth_method', { token_endpoint_auth_method: 'client_secret_jwt', grant_types: ['client_credentials'] }, /token_endpoint_auth_method/],
    ['the password grant', { grant_types: ['password'] }, /not supported/],
    ['the implicit grant', { grant_types: ['implicit'], response_types: ['token'], redirect_uris: ['https://app.example/cb'] }, /not supported/],
    ['response_types token', { response_types: ['token'], redirect_uris: ['https://app.example/cb'] }, /response_types/],
    ['grant_types and response_types that disagree', { grant_types: ['client_credentials'], response_types: ['code'] }, /go together/],
    ['refresh_token without the code grant', { grant_types: ['client_credentials', 'refresh_token'] }, /refresh_token/],
    ['a public client with client_credentials', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' }, /client_credentials/],
    ['private_key_jwt without keys', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt' }, /jwks/],
    ['both jwks and jwks_uri', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [] }, jwks_uri: 'https://keys.example/jwks.json' }, /both/],
    ['a jwks_uri that is not https', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://keys.example/jwks.json' }, /https/],
    ['a JWK Set with no keys', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [] } }, /1 to 10/],
    ['a symmetric key', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, /asymmetric/],
    ['a private key', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI' }] } }, /private key/],
    ['a weak key (Ed25519 small-order point)', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [IDENTITY_JWK] } }, /weak key/],
    ['a weak key (RSA e = 1)', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'RSA', n: 'sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw', e: 'AQ' }] } }, /weak key/],
    ['an unknown scope', { grant_types: ['client_credentials'], scope: 'read admin' }, /scope not allowed/],
    ['a dpop_bound_access_tokens that is not a boolean', { grant_types: ['client_credentials'], dpop_bound_access_tokens: 'yes' }, /boolean/],
    ['a client_name that is not a string', { grant_types: ['client_credentials'], client_name: 42 }, /client_name/],
    ['grant_types that is not an array of strings', { grant_types: 'client_credentials' }, /grant_types/],
  ])('invalid_client_metadata: %s', async (_name, metadata, pattern) => {
    await expectError(await registerAt(open, metadata), 'invalid_client_metadata', pattern);
  });

  it('invalid_client_metadata: a body that is not a JSON object, or not application/json', async () => {
    await expectError(await registerAt(open, '{"redirect_uris": ['), 'invalid_client_metadata');
    await expectError(await registerAt(open, '[1, 2]'), 'invalid_client_metadata');
    const form = await fetch(`${open.url}/register`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'redirect_uris=https://app.example/cb' });
    await expectError(form, 'invalid_client_metadata', /application\/json/);
    expect((await fetch(`${open.url}/register`)).status).toBe(405);
  });

  it('RFC 7523: private_key_jwt with jwks — the registered key signs the client assertion', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const res = await registerAt(open, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
    const client = await res.json();
    expect(res.status, JSON.stringify(client)).toBe(201);
    expect(client.jwks).toEqual({ keys: [jwk] });
    expect(client.client_secret).toBeUndefined();
    const token = await postForm(`${open.url}/token`, {
      grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(client.client_id, `${open.url}/token`, privateKey, 'k1'),
    });
    expect(token.status).toBe(200);
  });

  it('RFC 7591 jwks_uri: the keys are fetched when the client authenticates (weak ones dropped); a rotated key is found again', async () => {
    const first = await generateKeyPair('ES256');
    jwksServed = { keys: [IDENTITY_JWK, { ...(await exportJWK(first.publicKey)), kid: 'k1', alg: 'ES256' }] };
    const res = await registerAt(open, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://keys.example/jwks.json' });
    const client = await res.json();
    expect(res.status, JSON.stringify(client)).toBe(201);
    expect(client.jwks_uri).toBe('https://keys.example/jwks.json');
    const request = async (privateKey: CryptoKey, kid: string) => postForm(`${open.url}/token`, {
      grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(client.client_id, `${open.url}/token`, privateKey, kid),
    });
    expect((await request(first.privateKey, 'k1')).status).toBe(200);
    // A key it does not publish is refused.
    const stranger = await generateKeyPair('ES256');
    const refused = await request(stranger.privateKey, 'k1');
    expect(refused.status).toBe(401);
    expect((await refused.json()).error).toBe('invalid_client');
  });

  it('§3 initial access token: none → 401 with a Bearer challenge; a wrong one → 401 invalid_token; the right one → 201', async () => {
    const metadata = { redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' };
    const none = await registerAt(gated, metadata);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    await expectError(none, 'invalid_token');
    const wrong = await registerAt(gated, metadata, { authorization: `Bearer ${IAT}x` });
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    await expectError(wrong, 'invalid_token');
    expect((await registerAt(gated, metadata, { authorization: `Bearer ${IAT}` })).status).toBe(201);
  });

  it('registrations are throttled per address (429 + Retry-After) and capped in number (403, nothing stored)', async () => {
    const opened = await factory.open();
    const small = await startServer(opened.storage, { registration: { open: true, maxClients: 2, throttle: { freeAttempts: 3, delay: 60 } } });
    try {
      const metadata = { redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' };
      expect((await registerAt(small, metadata)).status).toBe(201);
      expect((await registerAt(small, metadata)).status).toBe(201);
      const full = await registerAt(small, metadata);
      expect(full.status).toBe(403);
      expect(await full.json()).toMatchObject({ error: 'access_denied', error_description: expect.stringMatching(/^registration_closed: /) });
      // Every request counts against the address, refused ones too: the fourth waits.
      const throttled = await registerAt(small, metadata);
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await throttled.json()).error_description).toMatch(/^throttled: /);
    } finally {
      await small.close();
      await opened.cleanup();
    }
  });

  it('dpop.required: the metadata says dpop_bound_access_tokens_required; every client (configured or registered) must send proofs', async () => {
    const opened = await factory.open();
    const strict = await startServer(opened.storage, { dpop: { required: true }, registration: { open: true } });
    try {
      const meta = await (await fetch(`${strict.url}/.well-known/oauth-authorization-server`)).json();
      expect(meta.dpop_bound_access_tokens_required).toBe(true);
      const registered = await (await registerAt(strict, { grant_types: ['client_credentials'], dpop_bound_access_tokens: false })).json();
      expect(registered.dpop_bound_access_tokens).toBe(true);
      for (const [id, secret] of [['confidential', 'correct-horse-battery-staple'], [registered.client_id, registered.client_secret]]) {
        const bare = await postForm(`${strict.url}/token`, { grant_type: 'client_credentials' }, { auth: basic(id, secret) });
        expect((await bare.json()).error, id).toBe('invalid_dpop_proof');
        const proven = await postForm(`${strict.url}/token`, { grant_type: 'client_credentials' }, { auth: basic(id, secret), dpop: await key.proof(`${strict.url}/token`) });
        expect(proven.status, id).toBe(200);
      }
    } finally {
      await strict.close();
      await opened.cleanup();
    }
  });
});

describe('registered clients survive a restart; the configuration keeps its ids', () => {
  const stores: Array<[string, () => Promise<{ open(): Storage; cleanup(): Promise<void> }>]> = [
    ['PGlite (data directory)', async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'dpopkit-register-'));
      return { open: () => createPGliteStorage({ dataDir }), cleanup: () => rm(dataDir, { recursive: true, force: true }) };
    }],
    ['PostgreSQL', async () => {
      const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
      return {
        open: () => createPostgresStorage({ connectionString: PG_URL, schema }),
        cleanup: async () => {
          await dropSchemas(schema);
        },
      };
    }],
  ];

  it.each(stores)('%s', async (_name, make) => {
    const backing = await make();
    try {
      let storage = backing.open();
      let server = await startServer(storage, { registration: { open: true } });
      const client = await (await registerAt(server, { grant_types: ['client_credentials'], scope: 'read' })).json();
      expect(client.client_id).toBeTruthy();
      await server.close();
      await storage.close();

      // A new process: the same database, registration now off, and a configured client that
      // claims the registered client's id (the configuration wins it).
      storage = backing.open();
      server = await startServer(storage);
      const token = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, { auth: basic(client.client_id, client.client_secret) });
      expect(token.status).toBe(200);
      await server.close();
      await storage.close();

      storage = backing.open();
      server = await startServer(storage, { clients: [{ clientId: client.client_id, tokenEndpointAuthMethod: 'client_secret_basic', clientSecret: 'the-operator-chose-this-secret', grantTypes: ['client_credentials'] }] });
      expect((await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, { auth: basic(client.client_id, client.client_secret) })).status).toBe(401);
      expect((await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, { auth: basic(client.client_id, 'the-operator-chose-this-secret') })).status).toBe(200);
      await server.close();
      await storage.close();
    } finally {
      await backing.cleanup();
    }
  }, 60_000);
});

describe('RFC 7591 through the Express adapter, after express.json() read the body', () => {
  it('the registration request is rebuilt from req.body and registered', async () => {
    const { default: express } = await import('express');
    const { toExpressHandler } = await import('../../src/authorization-server/adapters/express.js');
    const { createServer: createHttpServer } = await import('node:http');
    const opened = await STORAGES[0]!.open();
    const app = express();
    app.use(express.json());
    const server = createHttpServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const { createAuthorizationServer } = await import('../../src/authorization-server/index.js');
    const as = await createAuthorizationServer({ issuer: url, storage: opened.storage, clients: [], registration: { open: true } });
    app.use(toExpressHandler(as));
    try {
      const res = await fetch(`${url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none', client_name: 'via express' }) });
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(201);
      expect(body.client_name).toBe('via express');
    } finally {
      await as.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await opened.cleanup();
    }
  });
});
