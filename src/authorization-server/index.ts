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
import { invalidArgument } from '../core/argument-error.js';
import { resolveDPoPOptions } from '../core/dpop-options.js';
import { SILENT_LOGGER } from '../core/logger.js';
import { createProofVerifier } from '../core/proof/verify.js';
import { createMemoryReplayCache } from '../stores/memory.js';
import { createClientDirectory } from './clients.js';
import type { ConnectionInfo } from './client-address.js';
import { checkIssuer, clientRecord, positive, positiveCount, userRecord } from './config.js';
import type { AsContext, UserRecord } from './context.js';
import { createCors } from './cors.js';
import type { AuthorizationServer, AuthorizationServerOptions } from './options.js';
import { isPasswordHash } from './passwords.js';
import { createReplayQuota } from './replay-quota.js';
import { registrationConfig } from './registration.js';
import { createResourcePolicy } from './resource-indicators.js';
import { createRouter } from './router.js';
import { createSigningKeys } from './signing-keys.js';
import { guardStorage } from './storage-guard.js';
import { createThrottle } from './throttle.js';
import type { AsRequest } from './as-request.js';
import { answerDirectly, type AsResponse } from './as-response.js';

export { hashPassword, verifyPassword } from './passwords.js';
export { OAuthError, type AuthorizationServerReason, type OAuthErrorCode, type OAuthErrorOptions } from './errors.js';
export type { AuthorizationServer, AuthorizationServerOptions, ClientConfig, UserConfig } from './options.js';
export type { SigningAlg } from './signing-keys.js';
export type { RegistrationOptions } from './registration.js';
export { authorizationResources, tokenResources, directResources, audienceClaim, type ResourcePolicy } from './resource-indicators.js';
export type * from './storage.js';
export type { Logger } from '../core/logger.js';
export type { DPoPOptions } from '../core/dpop-options.js';
export type { NonceOptions, NonceSource } from '../core/nonce.js';
export { THROTTLE_DEFAULTS, type AttemptResult, type AttemptState, type AttemptStore, type ThrottleOptions, type ThrottleRule } from './throttle.js';
export type { ConnectionInfo, TrustProxyOptions } from './client-address.js';
export type { AsRequest, AsRequestHeaders } from './as-request.js';
export type { QuotaTake, ReplayQuota } from './replay-quota.js';

/**
 * Create the authorization server: migrates the storage, seeds the configured clients, makes
 * sure a signing key exists, and returns the request handler.
 *
 * @throws TypeError naming the bad option.
 */
export async function createAuthorizationServer(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  if (!options || typeof options !== 'object') throw invalidArgument('createAuthorizationServer needs options', 'ERR_INVALID_ARG_TYPE');
  const issuerUrl = checkIssuer(options.issuer);
  const issuer = options.issuer;
  const base = issuer.replace(/\/+$/, '');
  const basePath = issuerUrl.pathname.replace(/\/+$/, '');
  if (!options.storage || typeof options.storage.getClient !== 'function') throw invalidArgument('storage must implement the Storage port', 'ERR_INVALID_ARG_TYPE');
  const log = options.logger ?? SILENT_LOGGER;
  // Start-up failures (migration, seeding) surface as they are; later ones become 503s.
  const raw = options.storage;
  const storage = guardStorage(raw, log);
  if (options.clock !== undefined && typeof options.clock !== 'function') throw invalidArgument('clock must be a function returning epoch seconds', 'ERR_INVALID_ARG_TYPE');
  const clock = options.clock ?? (() => Date.now() / 1000);
  const now = () => Math.floor(clock());

  // algs, nonce (a missing secret: random, this process only), maxAge, maxFuture: checked as the resource server checks them.
  const dpop = resolveDPoPOptions(options.dpop, 'dpop', clock);

  const quota = options.dpop?.replayQuota ?? {};
  if (quota.store !== undefined && (typeof quota.store.take !== 'function' || typeof quota.store.release !== 'function')) {
    throw invalidArgument('dpop.replayQuota.store must be a ReplayQuota (take and release), e.g. createRedisReplayQuota()');
  }
  const replayQuota = {
    counter: quota.store ?? createReplayQuota(),
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
    authSession: positive(t.authSessionTtl, 300, 'tokens.authSessionTtl'),
  };

  const users = new Map<string, UserRecord>();
  for (const [i, user] of (options.users ?? []).entries()) {
    if (typeof user?.username !== 'string' || user.username === '') throw invalidArgument(`users[${i}].username must be a non-empty string`);
    if (!isPasswordHash(user.passwordHash)) throw invalidArgument(`users[${i}].passwordHash must be a string made by hashPassword()`);
    users.set(user.username, userRecord(user, i));
  }
  if (!Array.isArray(options.clients)) throw invalidArgument('clients must be an array', 'ERR_INVALID_ARG_TYPE');

  const throttle = createThrottle(options.throttle, { storageStore: raw.attempts, log });
  // RFC 8707: the resources tokens may be for (checked before anything is stored).
  const resources = createResourcePolicy({ resources: options.resources, audience: t.audience ?? issuer, clients: options.clients });
  if (options.dpop?.required !== undefined && typeof options.dpop.required !== 'boolean') throw invalidArgument('dpop.required must be a boolean', 'ERR_INVALID_ARG_TYPE');
  const dpopRequired = options.dpop?.required === true;

  await raw.migrate();
  const scopes = new Set<string>();
  for (const [i, config] of options.clients.entries()) {
    const record = await clientRecord(config, i, await raw.getClient(config?.clientId));
    if (config.resources !== undefined) record.resources = [...config.resources];
    await raw.upsertClient(record);
    for (const s of record.scope.split(' ')) if (s) scopes.add(s);
  }

  // RFC 7591: registered clients may ask for the scopes configured clients have, by default.
  const registration = registrationConfig(options.registration, [...scopes].sort());
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
      registration: `${base}/register`,
      authorizationChallenge: `${base}/authorize-challenge`,
    },
    storage,
    replayCache: options.replayCache ?? createMemoryReplayCache({ clock }),
    replayQuota,
    introspectors: new Set(options.clients.filter((c) => c.introspection === true).map((c) => c.clientId)),
    firstParty: new Set(options.clients.filter((c) => c.firstParty === true).map((c) => c.clientId)),
    firstPartyPolicy: { maxFailures: positiveCount(options.firstParty?.maxFailures, 5, 'firstParty.maxFailures') },
    verifier: createProofVerifier({ threadpool: dpop.threadpool }),
    nonce: dpop.nonce,
    dpop: { algs: dpop.algs, maxAge: dpop.maxAge, maxFuture: dpop.maxFuture, threadpool: dpop.threadpool },
    ttl,
    audience: t.audience ?? issuer,
    resources,
    registration,
    dpopRequired,
    keys,
    clients: createClientDirectory(storage, new Set(options.clients.map((c) => c.clientId)), { dpopRequired }),
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

  const answer = (request: AsRequest, info?: ConnectionInfo): Promise<AsResponse> => {
    // The client address, for throttling guesses by address.
    ctx.throttle.observe(request, info);
    return router.fetch(request);
  };
  const server: AuthorizationServer = {
    issuer,
    fetch: async (request: AsRequest, info?: ConnectionInfo) => (await answer(request, info)).toResponse(),
    handles: (pathname: string) => router.handles(pathname),
    async close() {
      clearInterval(purge);
    },
  };
  // The node:http and Express adapters take the answer before it becomes a web Response.
  Object.defineProperty(server, answerDirectly, { value: answer });
  return server;
}
