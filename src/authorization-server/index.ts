/**
 * dpopkit authorization server: issues DPoP-bound tokens (RFC 9449 §5, §6, §10) to public and
 * confidential clients, as one Web-standard `fetch(Request) => Response` handler.
 *
 * @example
 * ```ts
 * import { serve } from '@hono/node-server';
 * import { createAuthorizationServer, hashPassword } from 'dpopkit/authorization-server';
 * import { createPGliteStorage } from 'dpopkit/stores/postgres';
 *
 * const as = await createAuthorizationServer({
 *   issuer: 'http://localhost:4000',
 *   storage: await createPGliteStorage({ dataDir: './data' }),
 *   clients: [{ clientId: 'spa', tokenEndpointAuthMethod: 'none', redirectUris: ['http://localhost:4002/cb'], scope: 'api' }],
 *   users: [{ username: 'alice', passwordHash: await hashPassword('alice') }],
 * });
 * serve({ fetch: as.fetch, port: 4000 });
 * ```
 * @module
 */
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { DEFAULT_ALGORITHMS, isSupportedAlgorithm } from '../core/crypto/algorithms.js';
import { createNonceSource } from '../core/nonce.js';
import type { ReplayCache } from '../core/replay.js';
import { createMemoryReplayCache } from '../stores/memory.js';
import { createClientDirectory } from './clients.js';
import type { AsContext, Logger, UserRecord } from './context.js';
import { createCors } from './cors.js';
import { errorResponse, OAuthError } from './errors.js';
import { useNodeBody } from './form.js';
import { authorizeEndpoint } from './endpoints/authorize.js';
import { introspectEndpoint } from './endpoints/introspect.js';
import { jwksResponse } from './endpoints/jwks.js';
import { loginEndpoint } from './endpoints/login.js';
import { metadataResponse } from './endpoints/metadata.js';
import { parEndpoint } from './endpoints/par.js';
import { revokeEndpoint } from './endpoints/revoke.js';
import { tokenEndpoint } from './endpoints/token.js';
import { hashPassword, isPasswordHash, verifyPassword } from './passwords.js';
import { createSigningKeys, type SigningAlg } from './signing-keys.js';
import { guardStorage } from './storage-guard.js';
import type { ClientAuthMethod, ClientRecord, GrantType, Storage } from './storage.js';

export { hashPassword, verifyPassword } from './passwords.js';
export { OAuthError } from './errors.js';
export type * from './storage.js';
export type { Logger } from './context.js';

/** A client as configured (its secret in clear; it is stored as a scrypt hash). */
export interface ClientConfig {
  clientId: string;
  clientName?: string;
  tokenEndpointAuthMethod: ClientAuthMethod;
  /** For `client_secret_basic` / `client_secret_post`: the secret (hashed with scrypt before storing). */
  clientSecret?: string;
  /** Alternatively, a hash made by {@link hashPassword}. */
  clientSecretHash?: string;
  /** For `private_key_jwt`: the client's public keys. */
  jwks?: { keys: Record<string, unknown>[] };
  redirectUris?: string[];
  /** Default: `authorization_code` + `refresh_token` with redirect URIs, else `client_credentials`. */
  grantTypes?: GrantType[];
  /** Space-separated scopes the client may ask for (default: none). */
  scope?: string;
  /** RFC 9449 §5.2: refuse this client's token requests that carry no DPoP proof. */
  dpopBoundAccessTokens?: boolean;
}

export interface UserConfig {
  username: string;
  /** A string made by {@link hashPassword}. */
  passwordHash: string;
  name?: string;
}

export interface AuthorizationServerOptions {
  /** The exact issuer URL; every endpoint URL derives from it (with its path, if any). */
  issuer: string;
  storage: Storage;
  /** Where proof `jti`s (and client assertion `jti`s) are spent. Default: in-memory. */
  replayCache?: ReplayCache;
  dpop?: {
    /** Accepted proof algorithms (default: every asymmetric one dpopkit supports). */
    algs?: string[];
    /** `required`: every proof must carry a server nonce (RFC 9449 §8). Default `off`. */
    nonce?: 'off' | 'required';
    /** Secret shared by every server of a fleet, so they accept each other's nonces (≥ 32 bytes). Default: random per process. */
    nonceSecret?: string | Uint8Array;
    nonceStepSeconds?: number;
    /** Seconds a proof may be old (default 300). */
    maxAge?: number;
    /** Seconds a proof may be ahead of the server clock (default 5). */
    maxFuture?: number;
  };
  tokens?: {
    /** Access-token lifetime in seconds (default 600). */
    accessTokenTtl?: number;
    /** Absolute lifetime of a refresh-token family in seconds (default 14 days). */
    refreshTokenTtl?: number;
    codeTtl?: number;
    parTtl?: number;
    interactionTtl?: number;
    /** `aud` of access tokens (default: the issuer). */
    audience?: string | string[];
  };
  signingKeys?: { alg?: SigningAlg; rotateAfter?: number; publishAhead?: number };
  clients: ClientConfig[];
  users?: UserConfig[];
  /** Origins allowed to call token, PAR, revocation, metadata and JWKS from a browser (default: none). */
  corsOrigins?: string[];
  logger?: Logger;
  /** Clock in epoch seconds (tests). */
  now?: () => number;
}

export interface AuthorizationServer {
  /**
   * The Web-standard request handler (serve it with `@hono/node-server`, Bun, Deno, …). The
   * optional second argument is the server binding `@hono/node-server` passes (`{ incoming }`),
   * used only to read form bodies without building a web stream.
   */
  fetch(request: Request, env?: unknown): Promise<Response>;
  /** The issuer and endpoint URLs. */
  readonly issuer: string;
  /** Stop background work. The storage and replay cache passed in stay open (their owner closes them). */
  close(): Promise<void>;
}

const SILENT: Logger = { info() {}, warn() {}, error() {} };
const AUTH_METHODS: readonly ClientAuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'];
const GRANTS: readonly GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials'];

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer (seconds)`);
  return value;
}

function checkIssuer(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new TypeError('issuer must be an absolute URL');
  }
  // RFC 8414 §2: https, no query, no fragment (http allowed for local development).
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || issuer.includes('#') || issuer.includes('?')) {
    throw new TypeError('issuer must be an http(s) URL without query or fragment');
  }
  return url;
}

async function clientRecord(config: ClientConfig, index: number, existing: ClientRecord | undefined): Promise<ClientRecord> {
  const where = `clients[${index}]`;
  if (typeof config.clientId !== 'string' || config.clientId === '') throw new TypeError(`${where}.clientId must be a non-empty string`);
  if (!AUTH_METHODS.includes(config.tokenEndpointAuthMethod)) throw new TypeError(`${where}.tokenEndpointAuthMethod must be one of ${AUTH_METHODS.join(', ')}`);
  const redirectUris = config.redirectUris ?? [];
  for (const [i, uri] of redirectUris.entries()) {
    let ok = false;
    try {
      ok = new URL(uri).hash === '' && !uri.includes('#');
    } catch { /* reported below */ }
    if (!ok) throw new TypeError(`${where}.redirectUris[${i}] must be an absolute URL without fragment`);
  }
  const grantTypes = config.grantTypes ?? (redirectUris.length > 0 ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
  for (const g of grantTypes) if (!GRANTS.includes(g)) throw new TypeError(`${where}.grantTypes: unknown grant ${String(g)}`);
  if (config.tokenEndpointAuthMethod === 'none' && grantTypes.includes('client_credentials')) {
    throw new TypeError(`${where}: a public client (none) cannot use client_credentials`);
  }
  let clientSecretHash: string | undefined;
  if (config.tokenEndpointAuthMethod === 'client_secret_basic' || config.tokenEndpointAuthMethod === 'client_secret_post') {
    if (config.clientSecretHash !== undefined) {
      if (!isPasswordHash(config.clientSecretHash)) throw new TypeError(`${where}.clientSecretHash is not a hash made by hashPassword()`);
      clientSecretHash = config.clientSecretHash;
    } else if (typeof config.clientSecret === 'string' && config.clientSecret.length > 0) {
      // Keep the stored hash when it already matches (stable across restarts), else hash anew.
      clientSecretHash = existing?.clientSecretHash && (await verifyPassword(config.clientSecret, existing.clientSecretHash))
        ? existing.clientSecretHash
        : await hashPassword(config.clientSecret);
    } else {
      throw new TypeError(`${where}.clientSecret is required for ${config.tokenEndpointAuthMethod}`);
    }
  }
  if (config.tokenEndpointAuthMethod === 'private_key_jwt' && (!config.jwks || !Array.isArray(config.jwks.keys) || config.jwks.keys.length === 0)) {
    throw new TypeError(`${where}.jwks is required for private_key_jwt`);
  }
  const record: ClientRecord = {
    clientId: config.clientId,
    tokenEndpointAuthMethod: config.tokenEndpointAuthMethod,
    redirectUris,
    grantTypes,
    scope: config.scope ?? '',
    dpopBoundAccessTokens: config.dpopBoundAccessTokens ?? false,
  };
  if (config.clientName !== undefined) record.clientName = config.clientName;
  if (clientSecretHash !== undefined) record.clientSecretHash = clientSecretHash;
  if (config.jwks !== undefined) record.jwks = config.jwks;
  return record;
}

/**
 * Create the authorization server: migrates the storage, seeds the configured clients, makes
 * sure a signing key exists, and returns the request handler.
 *
 * @throws TypeError naming the bad option.
 */
export async function createAuthorizationServer(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  if (!options || typeof options !== 'object') throw new TypeError('createAuthorizationServer needs options');
  const issuerUrl = checkIssuer(options.issuer);
  const issuer = options.issuer;
  const base = issuer.replace(/\/+$/, '');
  const basePath = issuerUrl.pathname.replace(/\/+$/, '');
  if (!options.storage || typeof options.storage.getClient !== 'function') throw new TypeError('storage must implement the Storage port');
  const log = options.logger ?? SILENT;
  // Start-up failures (migration, seeding) surface as they are; later ones become 503s.
  const raw = options.storage;
  const storage = guardStorage(raw, log);
  const clock = options.now ?? (() => Date.now() / 1000);
  const now = () => Math.floor(clock());

  const algs = options.dpop?.algs ?? [...DEFAULT_ALGORITHMS];
  for (const alg of algs) if (!isSupportedAlgorithm(alg)) throw new TypeError(`dpop.algs: unsupported algorithm ${alg}`);
  const nonceMode = options.dpop?.nonce ?? 'off';
  if (nonceMode !== 'off' && nonceMode !== 'required') throw new TypeError("dpop.nonce must be 'off' or 'required'");
  const nonce = nonceMode === 'required'
    ? createNonceSource({ secret: options.dpop?.nonceSecret ?? randomBytes(32), stepSeconds: options.dpop?.nonceStepSeconds ?? 60, clock })
    : undefined;

  const t = options.tokens ?? {};
  const ttl = {
    accessToken: positive(t.accessTokenTtl, 600, 'tokens.accessTokenTtl'),
    refreshToken: positive(t.refreshTokenTtl, 14 * 86400, 'tokens.refreshTokenTtl'),
    code: positive(t.codeTtl, 60, 'tokens.codeTtl'),
    par: positive(t.parTtl, 60, 'tokens.parTtl'),
    interaction: positive(t.interactionTtl, 600, 'tokens.interactionTtl'),
  };

  const users = new Map<string, UserRecord>();
  for (const [i, user] of (options.users ?? []).entries()) {
    if (typeof user?.username !== 'string' || user.username === '') throw new TypeError(`users[${i}].username must be a non-empty string`);
    if (!isPasswordHash(user.passwordHash)) throw new TypeError(`users[${i}].passwordHash must be a string made by hashPassword()`);
    users.set(user.username, { ...user });
  }
  if (!Array.isArray(options.clients)) throw new TypeError('clients must be an array');

  await raw.migrate();
  const scopes = new Set<string>();
  for (const [i, config] of options.clients.entries()) {
    const record = await clientRecord(config, i, await raw.getClient(config?.clientId));
    await raw.upsertClient(record);
    for (const s of record.scope.split(' ')) if (s) scopes.add(s);
  }

  const keys = createSigningKeys(storage, options.signingKeys ?? {}, ttl.accessToken);
  await keys.active(now());

  const ctx: AsContext = {
    issuer,
    basePath,
    endpoints: {
      authorization: `${base}/authorize`,
      token: `${base}/token`,
      par: `${base}/par`,
      introspection: `${base}/introspect`,
      revocation: `${base}/revoke`,
      jwks: `${base}/jwks`,
      login: `${base}/login`,
    },
    storage,
    replayCache: options.replayCache ?? createMemoryReplayCache({ clock }),
    nonce,
    dpop: { algs, maxAge: positive(options.dpop?.maxAge, 300, 'dpop.maxAge'), maxFuture: options.dpop?.maxFuture ?? 5 },
    ttl,
    audience: t.audience ?? issuer,
    keys,
    clients: createClientDirectory(storage, new Set(options.clients.map((c) => c.clientId))),
    users,
    scopes: [...scopes].sort(),
    log,
    now,
  };

  const app = buildApp(ctx, createCors(options.corsOrigins ?? []));

  // Expired codes, interactions, PAR requests, families and revocations are deleted eventually.
  const purge = setInterval(() => {
    storage.purgeExpired(now()).catch((err: unknown) => ctx.log.warn({ err }, 'purgeExpired failed'));
  }, 10 * 60 * 1000);
  purge.unref?.();

  return {
    issuer,
    fetch: (request: Request, env?: unknown) => Promise.resolve(app.fetch(request, env as never)),
    async close() {
      clearInterval(purge);
    },
  };
}

type Handler = (ctx: AsContext, request: Request) => Response | Promise<Response>;

function buildApp(ctx: AsContext, cors: ReturnType<typeof createCors>): Hono {
  const app = new Hono();
  const p = ctx.basePath;

  /** One path, its methods, and whether browsers on allowed origins may call it. */
  function route(path: string, methods: Record<string, Handler>, withCors: boolean): void {
    const allow = Object.keys(methods).join(', ');
    app.all(path, async (c) => {
      const request = c.req.raw;
      // On Node (@hono/node-server), read form bodies from the IncomingMessage (see form.ts).
      if (request.method === 'POST') useNodeBody(request, (c.env as { incoming?: unknown } | undefined)?.incoming);
      if (withCors) {
        const preflight = cors.preflight(request, allow);
        if (preflight) return preflight;
      }
      const handler = methods[request.method] ?? (request.method === 'HEAD' ? methods.GET : undefined);
      const response = handler
        ? await handler(ctx, request)
        : errorResponse(new OAuthError('invalid_request', `${request.method} is not allowed here; use ${allow}`, 405, { Allow: allow }));
      return withCors ? cors.decorate(request, response) : response;
    });
  }

  const meta: Handler = (c) => metadataResponse(c);
  route('/.well-known/oauth-authorization-server' + p, { GET: meta }, true);
  route('/.well-known/openid-configuration' + p, { GET: meta }, true);
  if (p) {
    route(p + '/.well-known/oauth-authorization-server', { GET: meta }, true);
    route(p + '/.well-known/openid-configuration', { GET: meta }, true);
  }
  route(p + '/jwks', { GET: jwksResponse }, true);
  route(p + '/token', { POST: tokenEndpoint }, true);
  route(p + '/par', { POST: parEndpoint }, true);
  route(p + '/revoke', { POST: revokeEndpoint }, true);
  route(p + '/introspect', { POST: introspectEndpoint }, false);
  route(p + '/authorize', { GET: authorizeEndpoint }, false);
  route(p + '/login', { POST: loginEndpoint }, false);

  app.notFound(() => errorResponse(new OAuthError('invalid_request', 'not found', 404)));
  app.onError((err) => errorResponse(err, {}, ctx.log));
  return app;
}
