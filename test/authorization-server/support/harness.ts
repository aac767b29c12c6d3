/**
 * Test support for the authorization server: real storages (PGlite in memory, PostgreSQL on a
 * throw-away schema), a real HTTP server on an ephemeral port, DPoP keys and form helpers.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import express from 'express';
import pg from 'pg';
import { createProof, generateKeyPair, keyThumbprint } from '../../../src/index.js';
import type { DPoPKeyPair } from '../../../src/index.js';
import { createAuthorizationServer, hashPassword, type AuthorizationServer, type AuthorizationServerOptions } from '../../../src/authorization-server/index.js';
import { toExpressHandler } from '../../../src/authorization-server/adapters/express.js';
import { toNodeHandler } from '../../../src/authorization-server/adapters/node.js';
import type { Storage } from '../../../src/authorization-server/storage.js';
import { createPGliteStorage, createPostgresStorage } from '../../../src/stores/postgres.js';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** Drop test schemas (and everything in them) on the test database. */
export async function dropSchemas(...schemas: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    for (const schema of schemas) await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

export interface StorageFactory {
  name: string;
  open(): Promise<{ storage: Storage; cleanup(): Promise<void> }>;
}

/** The two storages every suite runs on. */
export const STORAGES: StorageFactory[] = [
  {
    name: 'PGlite',
    async open() {
      const storage = createPGliteStorage();
      return { storage, cleanup: () => storage.close() };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
      const storage = createPostgresStorage({ connectionString: PG_URL, schema });
      return {
        storage,
        async cleanup() {
          await storage.close();
          await dropSchemas(schema);
        },
      };
    },
  },
];

export const SECRET = 'correct-horse-battery-staple';
/** A secret that needs RFC 6749 §2.3.1 form-urlencoding inside Basic credentials. */
export const ODD_SECRET = 'a b:c+d%é/=';
export const REDIRECT = 'http://127.0.0.1:9/callback';

let aliceHash: Promise<string> | undefined;
export const alicePasswordHash = (): Promise<string> => (aliceHash ??= hashPassword('alice-password'));

/** Clients most tests use. */
export function defaultClients(): AuthorizationServerOptions['clients'] {
  return [
    { clientId: 'confidential', tokenEndpointAuthMethod: 'client_secret_basic', clientSecret: SECRET, grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'], redirectUris: [REDIRECT], scope: 'read write', introspection: true },
    { clientId: 'poster', tokenEndpointAuthMethod: 'client_secret_post', clientSecret: SECRET, grantTypes: ['client_credentials'], scope: 'read' },
    { clientId: 'spa', clientName: 'Demo <SPA>', tokenEndpointAuthMethod: 'none', redirectUris: [REDIRECT, 'http://127.0.0.1:9/other?x=1'], scope: 'read write' },
    { clientId: 'strict', tokenEndpointAuthMethod: 'client_secret_basic', clientSecret: SECRET, grantTypes: ['client_credentials'], scope: 'read', dpopBoundAccessTokens: true },
    { clientId: 'odd id:1', tokenEndpointAuthMethod: 'client_secret_basic', clientSecret: ODD_SECRET, grantTypes: ['client_credentials'], scope: 'read' },
  ];
}

export interface Running {
  url: string;
  as: AuthorizationServer;
  storage: Storage;
  close(): Promise<void>;
}

/**
 * How a test server serves the authorization server: `node` (the node:http adapter, the
 * default), `fetch` (`as.fetch` under @hono/node-server, the address passed by hand), `express`
 * (the Express adapter), `express-urlencoded` (the same after `express.urlencoded()` read the body).
 */
export type Transport = 'node' | 'fetch' | 'express' | 'express-urlencoded';
export const TRANSPORTS: Transport[] = ['fetch', 'node', 'express', 'express-urlencoded'];

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** The node listener of a transport; Express mounts the server at the issuer's path, if any. */
function listenerFor(as: AuthorizationServer, transport: Exclude<Transport, 'fetch'>, path: string): Listener {
  if (transport === 'node') return toNodeHandler(as);
  const app = express();
  if (transport === 'express-urlencoded') app.use(express.urlencoded({ extended: true }));
  app.use(path || '/', toExpressHandler(as));
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('the application\'s own 404');
  });
  return app;
}

/** Serve an authorization server on 127.0.0.1:<ephemeral> whose issuer is that very URL. */
export async function startServer(storage: Storage, options: Partial<AuthorizationServerOptions> = {}, path = '', transport: Transport = 'node'): Promise<Running> {
  let as: AuthorizationServer | undefined;
  let listener: Listener | undefined;
  let close: () => Promise<void>;
  let port: number;
  const starting = (res: ServerResponse) => res.writeHead(503).end('starting');
  if (transport === 'fetch') {
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({
        fetch: (req, env: { incoming: IncomingMessage }) =>
          as ? as.fetch(req, { remoteAddress: env.incoming.socket.remoteAddress }) : new Response('starting', { status: 503 }),
        port: 0,
        hostname: '127.0.0.1',
      }, () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
    close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  } else {
    const server = createServer((req, res) => (listener ? listener(req, res) : starting(res)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    close = () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }
  const url = `http://127.0.0.1:${port}${path}`;
  as = await createAuthorizationServer({
    issuer: url,
    storage,
    clients: defaultClients(),
    users: [{ username: 'alice', passwordHash: await alicePasswordHash(), name: 'Alice' }],
    ...options,
  });
  if (transport !== 'fetch') listener = listenerFor(as, transport, path);
  const running = as;
  return {
    url, as: running, storage,
    async close() {
      await running.close();
      await close();
    },
  };
}

export const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export interface PostOptions {
  auth?: string;
  dpop?: string;
  headers?: Record<string, string>;
}

/** POST a form (as a string, to control duplicates and encoding exactly). */
export function postForm(url: string, body: Record<string, string> | string, options: PostOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...options.headers };
  if (options.auth) headers.authorization = options.auth;
  if (options.dpop) headers.dpop = options.dpop;
  return fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : new URLSearchParams(body).toString(), redirect: 'manual' });
}

export interface DPoPKey {
  pair: DPoPKeyPair;
  jkt: string;
  proof(htu: string, extra?: { nonce?: string; htm?: string; iat?: number; accessToken?: string }): Promise<string>;
}

export async function dpopKey(alg: 'ES256' | 'EdDSA' | 'RS256' = 'ES256'): Promise<DPoPKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return {
    pair,
    jkt: await keyThumbprint(pair),
    proof: (htu, extra = {}) => createProof(pair, { htm: extra.htm ?? 'POST', htu, nonce: extra.nonce, iat: extra.iat, accessToken: extra.accessToken }),
  };
}

export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) };
}

/** PKCE pair (RFC 7636). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** Drive /authorize and the sign-in form with plain fetch; returns the redirect's query. */
export async function signIn(base: string, query: Record<string, string>, user = { username: 'alice', password: 'alice-password' }): Promise<URLSearchParams> {
  const page = await fetch(`${base}/authorize?${new URLSearchParams(query)}`, { redirect: 'manual' });
  if (page.status !== 200) throw new Error(`authorize answered ${page.status}: ${page.headers.get('location') ?? await page.text()}`);
  const html = await page.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  // The form posts to the issuer's login URL; reach it on this server (the issuer may be a public name).
  const action = new URL(base).origin + new URL(/action="([^"]+)"/.exec(html)![1]!.replace(/&#38;/g, '&')).pathname;
  const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
  const login = await postForm(action, { csrf, username: user.username, password: user.password, action: 'login' }, { headers: { cookie } });
  if (login.status !== 303) throw new Error(`login answered ${login.status}`);
  return new URL(login.headers.get('location')!).searchParams;
}
