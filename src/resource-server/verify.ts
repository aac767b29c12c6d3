/**
 * The one path every request takes, whatever the framework (Duende CVE-2024-49755 came from an
 * entry point that skipped the `cnf` check): the `Authorization` header (RFC 6750 §2.1,
 * RFC 9449 §7.1), the access token, the binding, and the proof (RFC 9449 §4.3, through core
 * `verifyProof`). Returns the principal, or the full HTTP refusal from `respond.ts`.
 *
 * @module
 */
import type { ResolvedDPoPOptions } from '../core/dpop-options.js';
import { DPoPError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createProofVerifier, type ProofExpectations } from '../core/proof/verify.js';
import type { ReplayCache } from '../core/replay.js';
import type { TokenInfo } from './access-token/types.js';
import { invalidRequest, invalidToken, ResourceServerError } from './errors.js';
import { EXPOSE_HEADER, EXPOSED_ON_SUCCESS } from './expose.js';
import { headerValues } from './headers.js';
import { timed, type MetricsRecorder, type ResourceServerMetricsHook } from './metrics.js';
import { reject, type ChallengeOptions, type UsedScheme } from './respond.js';
import { checkAuthentication } from './step-up.js';
import type { UrlResolver } from './request-url.js';
import type { Principal, RequestLike, VerifyOptions, VerifyResult } from './types.js';

export interface VerifierConfig {
  /** Validate an access token (JWT or introspection). */
  token: (token: string) => Promise<TokenInfo>;
  resolveUrl: UrlResolver;
  bearer: 'allow' | 'reject';
  challenge: ChallengeOptions;
  /** `dpop` of the options, resolved. */
  proof: ResolvedDPoPOptions;
  replayCache: ReplayCache;
  metrics: MetricsRecorder;
  /** Told how long each proof took to check (only when it has `proofVerified`). */
  metricsHook?: ResourceServerMetricsHook | undefined;
  logger: Logger | undefined;
  /** The server's clock, epoch seconds (proof `iat`, `auth_time`); default the system clock. */
  clock?: () => number;
  /** Seconds of clock difference tolerated on `auth_time`, as on `exp`. */
  clockTolerance?: number;
}

/** RFC 7235 §2.1 auth-scheme, then RFC 6750 §2.1 b64token (token68). */
const CREDENTIALS = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:[ ]+(.*))?$/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

function claimString(claims: Record<string, unknown>, name: string): string | undefined {
  const value = claims[name];
  return typeof value === 'string' ? value : undefined;
}

function principalOf(info: TokenInfo, scheme: 'DPoP' | 'Bearer'): Principal {
  const claims = info.claims as Record<string, unknown>;
  const scope = claimString(claims, 'scope');
  const principal: Principal = {
    subject: claimString(claims, 'sub'),
    clientId: claimString(claims, 'client_id'),
    scopes: scope ? scope.split(' ').filter((s) => s.length > 0) : [],
    claims,
    scheme,
  };
  if (info.jkt !== undefined) principal.jkt = info.jkt;
  return principal;
}

/** RFC 6750 §3.1: a valid token that lacks a scope the route needs (403, the scopes named). */
function checkScopes(principal: Principal, scopes: readonly string[] | undefined): void {
  if (!scopes || scopes.length === 0) return;
  const missing = scopes.filter((s) => !principal.scopes.includes(s));
  if (missing.length === 0) return;
  throw new ResourceServerError('insufficient_scope', 'insufficient_scope', 'the access token does not grant the scope this resource needs', {
    scope: scopes.join(' '),
    detail: { missing },
  });
}

export function createVerifier(config: VerifierConfig): (request: RequestLike, options?: VerifyOptions) => Promise<VerifyResult> {
  const { proof: p, metrics, logger } = config;
  // This server's own header cache: nothing is shared with another server in the process.
  const verifier = createProofVerifier({ threadpool: p.threadpool });
  const hook = config.metricsHook;
  const reportProof = hook?.proofVerified ? (seconds: number, ok: boolean) => hook.proofVerified!(seconds, ok) : undefined;

  /** Check the proof against the request; binds it to `jkt` when the token is bound. */
  async function checkProof(request: RequestLike, url: string, proofs: string[], token: string, jkt: string | undefined): Promise<void> {
    // One plain literal (no conditional spreads on the hot path): verifyProof reads an absent
    // jkt, nonce or now as "not required" / "the system clock".
    const expectations: ProofExpectations = {
      method: request.method,
      url,
      accessToken: token,
      jkt,
      jktError: 'invalid_token',
      replayCache: config.replayCache,
      algs: p.algs,
      nonce: p.nonce,
      maxAge: p.maxAge,
      maxFuture: p.maxFuture,
      now: config.clock?.(),
    };
    // Without a hook that wants the duration, no clock is read.
    if (reportProof === undefined) await verifier.verify(proofs, expectations);
    else await timed(() => verifier.verify(proofs, expectations), reportProof);
  }

  async function authenticate(request: RequestLike, used: { scheme: UsedScheme }): Promise<Principal> {
    // First, whatever the credentials: a request for a host this API does not serve, or whose
    // path the router and the htu check could read differently, is refused as malformed.
    const url = config.resolveUrl(request);
    const authorizations = headerValues(request.headers, 'authorization');
    if (authorizations.length === 0) throw new ResourceServerError('invalid_request', 'missing_credentials', 'the request has no access token');
    // RFC 9449 §7.2 / RFC 6750 §3.1: more than one method of sending a token is invalid_request.
    if (authorizations.length > 1 || authorizations[0]!.includes(',')) {
      throw invalidRequest('multiple_authorization', 'multiple methods used to include access token');
    }
    const match = CREDENTIALS.exec(authorizations[0]!.trim());
    const scheme = match?.[1]!.toLowerCase();
    if (scheme === 'dpop') used.scheme = 'DPoP';
    else if (scheme === 'bearer' && config.bearer === 'allow') used.scheme = 'Bearer';
    // RFC 6750 §3.1: an unsupported method is answered like no credentials (no error code).
    else throw new ResourceServerError('invalid_request', 'unsupported_scheme', 'the authorization scheme is not supported here');
    const token = match?.[2]?.trim();
    if (!token || !TOKEN68.test(token)) throw invalidRequest('malformed_authorization', 'the access token is missing or malformed');

    const proofs = headerValues(request.headers, 'dpop');
    // RFC 9449 §4.3 (1): exactly one proof; repeats are a malformed request (400).
    if (proofs.length > 1 || (proofs.length === 1 && proofs[0]!.includes(','))) {
      throw new DPoPError('invalid_request', 'multiple_proofs', 'the request has more than one DPoP proof; exactly one is allowed');
    }
    if (used.scheme === 'Bearer' && proofs.length > 0) {
      // A proof with the Bearer scheme: the client is confused or downgrading; say so.
      throw invalidRequest('bearer_with_proof', 'a DPoP proof was sent with the Bearer scheme; use the DPoP scheme');
    }

    const info = await config.token(token);
    if (info.jkt !== undefined) {
      // RFC 9449 §7.2: a DPoP-bound token received as a bearer token MUST be rejected.
      if (used.scheme === 'Bearer') throw invalidToken('bearer_downgrade', 'the access token is DPoP-bound and must be sent with the DPoP scheme and a proof');
      // RFC 9449 §7.1: proof, ath and key binding, all three, or no access.
      await checkProof(request, url, proofs, token, info.jkt);
      return principalOf(info, 'DPoP');
    }
    if (used.scheme === 'Bearer') return principalOf(info, 'Bearer');
    // DPoP scheme, unbound token: refuse when DPoP is required for everything; otherwise the
    // proof must still be valid (a bad proof is never ignored), and the token counts as bearer.
    if (config.bearer === 'reject') throw invalidToken('token_not_bound', 'the access token is not DPoP-bound; this resource requires DPoP-bound tokens');
    await checkProof(request, url, proofs, token, undefined);
    return principalOf(info, 'Bearer');
  }

  return async (request, options) => {
    const used: { scheme: UsedScheme } = { scheme: undefined };
    try {
      const principal = await authenticate(request, used);
      // RFC 9470: the sign-in behind the token first (401, the client can fix it by signing in
      // again), then the scopes (403).
      if (options?.authentication) checkAuthentication(principal, options.authentication, config.clock?.() ?? Date.now() / 1000, config.clockTolerance ?? 0);
      checkScopes(principal, options?.scopes);
      const headers: Record<string, string> = {};
      // RFC 9449 §9: a successful response may carry the next nonce.
      if (p.nonce && used.scheme === 'DPoP') {
        headers['DPoP-Nonce'] = await p.nonce.current();
        // A browser client on another origin can only read it when exposed (Fetch CORS).
        headers[EXPOSE_HEADER] = EXPOSED_ON_SUCCESS;
      }
      metrics.accept();
      return { ok: true, principal, headers };
    } catch (err) {
      let failure: DPoPError | ResourceServerError;
      if (err instanceof DPoPError || err instanceof ResourceServerError) failure = err;
      else {
        failure = new ResourceServerError('server_error', 'internal_error', 'the request could not be checked', { cause: err });
        logger?.error({ reason: 'internal_error', err: (err as Error)?.message }, 'dpop: unexpected failure');
      }
      metrics.reject(failure.reason);
      const rejection = reject(failure, config.challenge, used.scheme);
      if (logger) {
        const entry: Record<string, unknown> = { reason: rejection.reason, error: rejection.error, status: rejection.status, method: request.method };
        if (failure.detail) entry.detail = failure.detail; // expected vs received htu on htu_mismatch
        // RFC 9449 §9: a nonce challenge is the normal first round trip (the client retries), not a refusal.
        if (rejection.error === 'use_dpop_nonce') logger.debug(entry, 'dpop: nonce challenge (use_dpop_nonce)');
        else if (rejection.status >= 500) logger.warn({ ...entry, cause: (failure.cause as Error | undefined)?.message }, 'dpop: request refused');
        else logger.info(entry, 'dpop: request refused');
      }
      return rejection;
    }
  };
}
