/**
 * `dpopkit/resource-server`: every request proves possession of the key its access token is
 * bound to (RFC 9449 §7), on any framework, for JWT (RFC 9068) or opaque (RFC 7662) tokens.
 *
 * ```ts
 * const rs = createResourceServer({ issuer: 'https://as.example.com', audience: 'https://api.example.com' });
 * const result = await rs.verify({ method: 'GET', url: '/items', headers: req.headersDistinct });
 * if (!result.ok) return send(result.status, result.headers, result.body);
 * ```
 * Framework adapters: `dpopkit/resource-server/node`, `…/express`, `…/fastify`, `…/hono`, `…/web`.
 *
 * @module
 */
import { invalidArgument } from '../core/argument-error.js';
import { resolveDPoPOptions, type DPoPOptions } from '../core/dpop-options.js';
import type { Logger } from '../core/logger.js';
import type { ReplayCache } from '../core/replay.js';
import { createMemoryReplayCache } from '../stores/memory.js';
import type { ClaimPolicy } from './access-token/claims.js';
import { createIntrospectionValidator, type IntrospectionOptions } from './access-token/introspection.js';
import { createJwksSource } from './access-token/jwks.js';
import { createJwtValidator, isJwtShaped } from './access-token/jwt.js';
import { createMetadataSource } from './access-token/metadata.js';
import type { FetchLike, TokenInfo } from './access-token/types.js';
import { invalidToken } from './errors.js';
import { createMetrics, timed, type ResourceServerMetrics, type ResourceServerMetricsHook } from './metrics.js';
import { createUrlResolver, ORIGIN_REQUIRED, originRequiredMessage, type RequestUrlOptions, type TrustProxyOptions } from './request-url.js';
import type { ChallengeOptions } from './respond.js';
import { answerMetadata, createResourceMetadata, type MetadataAnswer, type ResourceMetadata, type ResourceMetadataOptions } from './resource-metadata.js';
import type { RequestLike, VerifyOptions, VerifyResult } from './types.js';
import { createVerifier } from './verify.js';

export interface ResourceServerOptions {
  /** The expected `iss` of access tokens, and where metadata is discovered (RFC 8414). */
  issuer: string;
  /** This API's identifier(s): a token's `aud` must contain one of them. */
  audience: string | readonly string[];
  /** The issuer's JWK Set URL; discovered from the issuer's metadata when absent. */
  jwksUri?: string;
  /** Opaque tokens are checked at the RFC 7662 introspection endpoint with these credentials. */
  introspection?: IntrospectionOptions;
  /** Access-token signature algorithms (asymmetric only; default every one dpopkit supports). */
  accessTokenAlgs?: readonly string[];
  /** Accepted JWT `typ` values (default `at+jwt`, `application/at+jwt`, RFC 9068 §2.1). */
  accessTokenTypes?: readonly string[];
  /**
   * Unbound tokens: `allow` (default) accepts them as bearer tokens (and a `Bearer` challenge is
   * sent); `reject` requires a DPoP-bound token on every request. A DPoP-bound token sent with
   * the Bearer scheme is refused either way (RFC 9449 §7.2).
   */
  bearer?: 'allow' | 'reject';
  /**
   * DPoP proofs, as the authorization server's `dpop` (and `verifyProof`'s expectations) name
   * them: `algs` (accepted, and advertised in `algs` of challenges; default every asymmetric
   * one), `nonce` (resource-server nonces, RFC 9449 §9: `false` by default, a `NonceSource`, or
   * `{ secret?, stepSeconds? }` for the stateless source, whose secret a fleet shares; without a
   * secret, a random one for this process only), `maxAge` (300 s) and `maxFuture` (5 s).
   */
  dpop?: DPoPOptions;
  /** Where proof `jti`s are spent (default: in memory, this process only). */
  replayCache?: ReplayCache;
  /**
   * The URL clients call this API at (path prefix included, e.g. behind a gateway): the URL a
   * proof's `htu` is compared with is always built from it, never from Host or proxy headers.
   */
  publicUrl?: string;
  /**
   * Hosts (`api.example.com` = any port, `api.example.com:8443`) or origins
   * (`https://api.example.com`) this API answers for; a request for any other gets 400
   * `host_not_allowed`. Default: the origins of the http(s) URLs in `audience`.
   */
  allowedHosts?: readonly string[];
  /**
   * The reverse proxy in front of the API: its addresses (exact, or IPv4 CIDR) and the ONE
   * header it sets, `'x-forwarded'` (`X-Forwarded-Host`/`-Proto`) or `'forwarded'` (RFC 7239).
   * Only that header, only from those peers, is believed; the host it names must still be
   * allowed, and a request whose other proxy header disagrees is refused (400).
   */
  trustProxy?: TrustProxyOptions;
  /**
   * Build the `htu` from whatever Host header arrives, with no allow-list: any API sharing this
   * server's address could have its proofs replayed here. For local development only; it cannot
   * be combined with `publicUrl` or `allowedHosts`.
   */
  dangerouslyTrustHostHeader?: boolean;
  /** Seconds of clock difference tolerated on the token's `exp`/`nbf` (default 5). */
  clockTolerance?: number;
  /**
   * Clock in epoch seconds (default `Date.now() / 1000`; tests), as the authorization server's
   * and every store's `clock`: token `exp`/`nbf`/`auth_time`, proof `iat`, nonces.
   */
  clock?: () => number;
  /** Optional `realm` in challenges. */
  realm?: string;
  /** A pino-compatible {@link Logger}: refusals with their `reason` (never a token or a proof). */
  logger?: Logger;
  /**
   * Told, as the server works, what a metrics exporter records: each request's outcome and
   * reason, how long the access token and the proof took to verify, introspection calls and
   * JWK Set fetches (see {@link ResourceServerMetricsHook}). Without it no clock is read for
   * metrics; {@link ResourceServer.metrics} counts either way.
   */
  metricsHook?: ResourceServerMetricsHook;
  /** `fetch` for metadata, JWKS and introspection (default `globalThis.fetch`). */
  fetch?: FetchLike;
  /** Least seconds between JWKS refetches caused by unknown `kid`s (default 30). */
  jwksRefetchSeconds?: number;
  /**
   * How many verified JWT access tokens to remember (default 1000; 0 = verify every time). A hit
   * skips only the token's signature check; `exp`/`nbf` are rechecked, the proof is always
   * checked, and a newly fetched JWK Set empties it.
   */
  tokenCacheSize?: number;
  /**
   * RFC 9728 protected resource metadata, served at the well-known URL of the resource
   * identifier and named by `resource_metadata` in every challenge. On by default when the
   * audience is an http(s) URL (the resource identifier); `false` turns it off.
   */
  metadata?: ResourceMetadataOptions | false;
}

export interface ResourceServer {
  /**
   * Check a request: the principal, or a refusal carrying its full HTTP answer. Never throws.
   * With `scopes`, a token that lacks one of them is refused with 403 `insufficient_scope`
   * (RFC 6750 §3.1), its challenge naming the scopes.
   */
  verify(request: RequestLike, options?: VerifyOptions): Promise<VerifyResult>;
  /** Counters: accepted, rejected by reason, replays, nonce challenges. */
  metrics(): ResourceServerMetrics;
  /** RFC 9728: the resource identifier, the document and its URL (`undefined` when off). */
  readonly resourceMetadata: ResourceMetadata | undefined;
  /**
   * The answer to a request for the metadata document (GET/HEAD: 200 JSON; OPTIONS: 204; other
   * methods: 405), or `undefined` when the request is for another path. Every adapter calls it
   * before authenticating, so the document is public.
   */
  answerMetadata(request: { method: string; url: string }): MetadataAnswer | undefined;
}

/**
 * Create a resource server.
 *
 * @example
 * ```ts
 * const rs = createResourceServer({
 *   issuer: 'https://as.example.com', audience: 'https://api.example.com',
 *   bearer: 'reject', dpop: { nonce: { secret: process.env.DPOPKIT_NONCE_SECRET! } },
 * });
 * ```
 */
export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  if (!options || typeof options.issuer !== 'string' || options.issuer.length === 0) throw invalidArgument('createResourceServer needs an issuer');
  const audience = typeof options.audience === 'string' ? [options.audience] : [...(options.audience ?? [])];
  if (audience.length === 0) throw invalidArgument('createResourceServer needs an audience');
  const fetchFn: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const logger = options.logger;
  const hook = options.metricsHook;
  const policy: ClaimPolicy = { issuer: options.issuer, audience: new Set(audience), clockTolerance: options.clockTolerance ?? 5 };
  const metadata = createMetadataSource(options.issuer, fetchFn);

  const jwks = createJwksSource({
    jwksUri: options.jwksUri ?? (async () => {
      const doc = await metadata();
      if (typeof doc.jwks_uri !== 'string') throw new Error(`the metadata of ${options.issuer} has no jwks_uri`);
      return doc.jwks_uri;
    }),
    fetch: fetchFn,
    ...(options.jwksRefetchSeconds !== undefined ? { minRefetchSeconds: options.jwksRefetchSeconds } : {}),
    onError: (err) => logger?.warn({ reason: 'jwks_unavailable', cause: (err as Error)?.message }, 'dpop: JWKS refresh failed'),
    ...(hook?.jwksFetched !== undefined ? { onFetch: (reason, ok) => hook.jwksFetched!(reason, ok) } : {}),
  });
  if (options.clock !== undefined && typeof options.clock !== 'function') throw invalidArgument('clock must be a function returning epoch seconds', 'ERR_INVALID_ARG_TYPE');
  const clock = options.clock ?? (() => Date.now() / 1000);
  const jwt = createJwtValidator({
    policy, jwks, clock,
    ...(options.accessTokenAlgs ? { algs: options.accessTokenAlgs } : {}),
    ...(options.accessTokenTypes ? { types: options.accessTokenTypes } : {}),
    ...(options.tokenCacheSize !== undefined ? { cacheSize: options.tokenCacheSize } : {}),
  });
  const introspection = options.introspection
    ? createIntrospectionValidator({
      ...options.introspection, policy, fetch: fetchFn, clock,
      ...(hook?.introspected !== undefined ? { onIntrospect: (seconds, ok) => hook.introspected!(seconds, ok) } : {}),
      discover: async () => {
        const doc = await metadata();
        if (typeof doc.introspection_endpoint !== 'string') throw new Error(`the metadata of ${options.issuer} has no introspection_endpoint`);
        return doc.introspection_endpoint;
      },
    })
    : undefined;

  /** JWT-shaped tokens are verified locally; anything else is introspected (when configured). */
  const validate = (value: string): Promise<TokenInfo> => {
    if (isJwtShaped(value)) return jwt.validate(value);
    if (introspection) return introspection.validate(value);
    return Promise.reject(invalidToken('token_malformed', 'the access token is not a JWT and no introspection endpoint is configured'));
  };
  // Timed only for a hook that wants the duration: otherwise no clock is read.
  const token = hook?.tokenVerified === undefined ? validate : (value: string): Promise<TokenInfo> => {
    const kind = isJwtShaped(value) || !introspection ? 'jwt' : 'introspection';
    return timed(() => validate(value), (seconds, ok) => hook.tokenVerified!(seconds, kind, ok));
  };

  const dpop = resolveDPoPOptions(options.dpop, 'dpop', clock);
  const proofAlgs = dpop.algs;
  const bearer = options.bearer ?? 'allow';
  const resourceMetadata = createResourceMetadata({ issuer: options.issuer, audience, proofAlgs, bearer, options: options.metadata });
  const metadataMaxAge = options.metadata ? options.metadata.maxAge : undefined;
  // RFC 9728 §5.1: every challenge names the metadata, so a client with only the URL finds its way.
  const challenge: ChallengeOptions = { algs: proofAlgs.join(' '), bearer: bearer === 'allow', realm: options.realm, resourceMetadata: resourceMetadata?.url };
  const metrics = createMetrics(hook);
  const verify = createVerifier({
    clock,
    clockTolerance: policy.clockTolerance,
    token,
    resolveUrl: createUrlResolver(urlPolicy(options, audience, logger)),
    bearer,
    challenge,
    proof: dpop,
    replayCache: options.replayCache ?? createMemoryReplayCache({ clock }),
    metrics,
    metricsHook: hook,
    logger,
  });

  return {
    verify,
    metrics: () => metrics.snapshot(),
    resourceMetadata,
    answerMetadata: (request) => answerMetadata(resourceMetadata, request, metadataMaxAge),
  };
}

/**
 * Which origin(s) the API serves. Explicit settings win; otherwise the origins of the http(s)
 * audiences (RFC 8707 resource indicators are usually the API's URL); otherwise construction
 * fails, saying what to set: a resource server that builds `htu` from any Host accepts proofs
 * made for another API on the same address.
 */
function urlPolicy(options: ResourceServerOptions, audience: readonly string[], logger: Logger | undefined): RequestUrlOptions {
  const policy: RequestUrlOptions = {
    ...(options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {}),
    ...(options.allowedHosts !== undefined ? { allowedHosts: options.allowedHosts } : {}),
    ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}),
    ...(options.dangerouslyTrustHostHeader !== undefined ? { dangerouslyTrustHostHeader: options.dangerouslyTrustHostHeader } : {}),
  };
  if (options.dangerouslyTrustHostHeader === true) {
    logger?.warn({ reason: 'dangerously_trust_host_header' }, 'dpop: dangerouslyTrustHostHeader is on: proofs are checked against whatever Host a client sends (development only)');
    return policy;
  }
  if (options.publicUrl !== undefined || options.allowedHosts !== undefined) return policy;
  const origins: string[] = [];
  for (const aud of audience) {
    if (!/^https?:\/\//i.test(aud)) continue;
    try {
      const origin = new URL(aud).origin;
      if (!origins.includes(origin)) origins.push(origin);
    } catch {
      // not a URL after all: it names the API, not an origin
    }
  }
  if (origins.length === 0) throw invalidArgument(originRequiredMessage(`createResourceServer (audience ${JSON.stringify(audience.length === 1 ? audience[0] : audience)} is not an http(s) URL)`), ORIGIN_REQUIRED);
  return { ...policy, allowedHosts: origins };
}

export { ResourceServerError, type ResourceServerErrorName, type ResourceServerReason } from './errors.js';
export { createUrlResolver, checkHost, ORIGIN_REQUIRED, type ForwardedHeader, type RequestUrlOptions, type TrustProxyOptions, type UrlResolver } from './request-url.js';
export { challengeHeader, toResponse, type ChallengeOptions } from './respond.js';
export type { JwksFetchReason, ResourceServerMetrics, ResourceServerMetricsHook } from './metrics.js';
export { resourceMetadataUrl, PROTECTED_RESOURCE_WELL_KNOWN, type MetadataAnswer, type ProtectedResourceMetadata, type ResourceMetadata, type ResourceMetadataOptions } from './resource-metadata.js';
export type { IntrospectionOptions } from './access-token/introspection.js';
export type { FetchLike } from './access-token/types.js';
export { DEFAULT_ACCESS_TOKEN_ALGS, DEFAULT_ACCESS_TOKEN_TYPES } from './access-token/jwt.js';
export type { Accepted, HeadersLike, Principal, Rejected, RejectionBody, RequestLike, VerifyOptions, VerifyResult } from './types.js';
export { checkAuthentication, type AuthenticationRequirement } from './step-up.js';
export type { Logger } from '../core/logger.js';
export type { DPoPOptions } from '../core/dpop-options.js';
export type { NonceOptions, NonceSource } from '../core/nonce.js';
