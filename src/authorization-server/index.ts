/**
 * dpopkit authorization server: issues DPoP-bound tokens (RFC 9449 §5, §6, §10) to public and
 * confidential clients, as one Web-standard `fetch(Request, { remoteAddress }) => Response`
 * handler; `dpopkit/authorization-server/node` and `/express` serve it on node:http and Express.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createAuthorizationServer, hashPassword } from 'dpopkit/authorization-server';
 * import { toNodeHandler } from 'dpopkit/authorization-server/node';
 * import { createPGliteStorage } from 'dpopkit/stores/postgres';
 *
 * const as = await createAuthorizationServer({
 *   issuer: 'http://localhost:4000',
 *   storage: createPGliteStorage({ dataDir: './data' }),
 *   clients: [{ clientId: 'spa', tokenEndpointAuthMethod: 'none', redirectUris: ['http://localhost:4002/cb'], scope: 'api' }],
 *   users: [{ username: 'alice', passwordHash: await hashPassword('alice') }],
 * });
 * createServer(toNodeHandler(as)).listen(4000);
 * ```
 * @module
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_ALGORITHMS, isSupportedAlgorithm } from '../core/crypto/algorithms.js';
import { createNonceSource } from '../core/nonce.js';
import { createMemoryReplayCache } from '../stores/memory.js';
import { createClientDirectory } from './clients.js';
import type { ConnectionInfo } from './client-address.js';
import { checkIssuer, clientRecord, positive, positiveCount } from './config.js';
import type { AsContext, Logger, UserRecord } from './context.js';
import { createCors } from './cors.js';
import type { AuthorizationServer, AuthorizationServerOptions } from './options.js';
import { isPasswordHash } from './passwords.js';
import { createReplayQuota } from './replay-quota.js';
import { createRouter } from './router.js';
import { createSigningKeys } from './signing-keys.js';
import { guardStorage } from './storage-guard.js';
import { createThrottle } from './throttle.js';

export { hashPassword, verifyPassword } from './passwords.js';
export { OAuthError, type OAuthErrorCode } from './errors.js';
export type { AuthorizationServer, AuthorizationServerOptions, ClientConfig, UserConfig } from './options.js';
export type { SigningAlg } from './signing-keys.js';
export type * from './storage.js';
export type { Logger } from './context.js';
export { THROTTLE_DEFAULTS, type AttemptResult, type AttemptState, type AttemptStore, type ThrottleOptions, type ThrottleRule } from './throttle.js';
export type { ConnectionInfo, TrustProxyOptions } from './client-address.js';

const SILENT: Logger = { info() {}, warn() {}, error() {} };

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

  const quota = options.dpop?.replayQuota ?? {};
  const replayQuota = {
    counter: createReplayQuota(),
    perClient: positiveCount(quota.perClient, 1000, 'dpop.replayQuota.perClient'),
    perKey: positiveCount(quota.perKey, 100, 'dpop.replayQuota.perKey'),
  };

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

  const throttle = createThrottle(options.throttle, { storageStore: raw.attempts, log });

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
    replayQuota,
    introspectors: new Set(options.clients.filter((c) => c.introspection === true).map((c) => c.clientId)),
    nonce,
    dpop: { algs, maxAge: positive(options.dpop?.maxAge, 300, 'dpop.maxAge'), maxFuture: options.dpop?.maxFuture ?? 5 },
    ttl,
    audience: t.audience ?? issuer,
    keys,
    clients: createClientDirectory(storage, new Set(options.clients.map((c) => c.clientId))),
    users,
    throttle,
    scopes: [...scopes].sort(),
    loginHint: options.loginHint,
    log,
    now,
  };

  const router = createRouter(ctx, createCors(options.corsOrigins ?? []));

  // Expired codes, interactions, PAR requests, families and revocations are deleted eventually.
  const purge = setInterval(() => {
    storage.purgeExpired(now()).catch((err: unknown) => ctx.log.warn({ err }, 'purgeExpired failed'));
    ctx.throttle.purge(now()).catch((err: unknown) => ctx.log.warn({ err }, 'throttle purge failed'));
  }, 10 * 60 * 1000);
  purge.unref?.();

  return {
    issuer,
    fetch: (request: Request, info?: ConnectionInfo) => {
      // The client address, for throttling guesses by address.
      ctx.throttle.observe(request, info);
      return router.fetch(request);
    },
    handles: (pathname: string) => router.handles(pathname),
    async close() {
      clearInterval(purge);
    },
  };
}
