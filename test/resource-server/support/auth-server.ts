/**
 * A tiny real authorization server for resource-server tests (node:http on port 0): RFC 8414 /
 * OpenID discovery, a JWK Set that can rotate, and an RFC 7662 introspection endpoint that
 * records the client authentication it received. Tokens are minted with jose's SignJWT.
 */
import * as crypto from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll } from 'vitest';
import { newKey } from './http.js';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: crypto.KeyObject;
  jwk: Record<string, unknown>;
}

export interface IntrospectionCall {
  authorization: string | undefined;
  body: URLSearchParams;
}

export interface AuthServer {
  url: string;
  keys: SigningKey[];
  /** Fetch counts per endpoint. */
  hits: { oauthMetadata: number; openidMetadata: number; jwks: number; introspection: number };
  introspectionCalls: IntrospectionCall[];
  /** Answers for opaque tokens: token → introspection JSON. */
  opaque: Map<string, Record<string, unknown>>;
  /** Which discovery documents exist. */
  discovery: { oauth: boolean; openid: boolean };
  /** When true, every endpoint answers 500. */
  down: boolean;
  addKey(kid: string, alg?: string): SigningKey;
  removeKey(kid: string): void;
  mint(claims: Record<string, unknown>, options?: { kid?: string; typ?: string | null; alg?: string; header?: Record<string, unknown>; key?: SigningKey }): Promise<string>;
  close(): Promise<void>;
}

function keyFor(alg: string): crypto.KeyPairKeyObjectResult {
  if (alg.startsWith('ES')) return crypto.generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg]! });
  if (alg === 'EdDSA') return crypto.generateKeyPairSync('ed25519');
  return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

export const CLIENT_ID = 'rs-client';
export const CLIENT_SECRET = 'rs secret/with:odd+chars';

export async function startAuthServer(): Promise<AuthServer> {
  const as: AuthServer = {
    url: '',
    keys: [],
    hits: { oauthMetadata: 0, openidMetadata: 0, jwks: 0, introspection: 0 },
    introspectionCalls: [],
    opaque: new Map(),
    discovery: { oauth: true, openid: true },
    down: false,
    addKey(kid, alg = 'ES256') {
      const pair = keyFor(alg);
      const jwk = { ...(pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, alg, use: 'sig' };
      const key = { kid, alg, privateKey: pair.privateKey, jwk };
      as.keys.push(key);
      return key;
    },
    removeKey(kid) {
      as.keys = as.keys.filter((k) => k.kid !== kid);
    },
    async mint(claims, options = {}) {
      const key = options.key ?? (options.kid ? as.keys.find((k) => k.kid === options.kid) : as.keys[0]);
      if (!key) throw new Error('no signing key');
      const header: Record<string, unknown> = { alg: options.alg ?? key.alg, kid: key.kid, ...(options.typ === null ? {} : { typ: options.typ ?? 'at+jwt' }), ...options.header };
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: as.url, aud: 'https://api.example.com', sub: 'alice', client_id: 'app', scope: 'read write', iat: now, exp: now + 300, jti: crypto.randomUUID(), ...claims })
        .setProtectedHeader(header as { alg: string })
        .sign(key.privateKey);
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };

  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (as.down) return json(500, { error: 'server_error' });
    const metadata = { issuer: as.url, jwks_uri: `${as.url}/jwks`, introspection_endpoint: `${as.url}/introspect`, token_endpoint: `${as.url}/token` };
    if (path === '/.well-known/oauth-authorization-server') {
      as.hits.oauthMetadata++;
      return as.discovery.oauth ? json(200, metadata) : json(404, {});
    }
    if (path === '/.well-known/openid-configuration') {
      as.hits.openidMetadata++;
      return as.discovery.openid ? json(200, metadata) : json(404, {});
    }
    if (path === '/jwks') {
      as.hits.jwks++;
      return json(200, { keys: as.keys.map((k) => k.jwk) });
    }
    if (path === '/introspect' && req.method === 'POST') {
      as.hits.introspection++;
      const body = new URLSearchParams(await readBody(req));
      as.introspectionCalls.push({ authorization: req.headers.authorization, body });
      const basic = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET).replace(/%20/g, '+')}`).toString('base64')}`;
      const authed = req.headers.authorization === basic || (body.get('client_id') === CLIENT_ID && body.get('client_secret') === CLIENT_SECRET);
      if (!authed) return json(401, { error: 'invalid_client' });
      return json(200, as.opaque.get(body.get('token') ?? '') ?? { active: false });
    }
    json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  as.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  as.addKey('k1');
  return as;
}

/** What {@link useAuthServer} hands a test file. */
export interface AuthServerFixture {
  as: AuthServer;
  key: Awaited<ReturnType<typeof newKey>>;
  /** An access token bound to `key` (`cnf.jkt`). */
  token: string;
}

/**
 * Start an authorization server, a DPoP key and a token bound to it before the tests of the
 * enclosing file or `describe`, and close the server after them; `receive` gets them once ready:
 * `useAuthServer((f) => ({ as, key, token } = f));`
 */
export function useAuthServer(receive: (fixture: AuthServerFixture) => void): void {
  let as: AuthServer | undefined;
  beforeAll(async () => {
    as = await startAuthServer();
    const key = await newKey();
    receive({ as, key, token: await as.mint({ cnf: { jkt: key.jkt } }) });
  });
  afterAll(async () => {
    await as?.close();
  });
}
