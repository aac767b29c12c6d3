/**
 * The one place a refusal becomes an HTTP answer (RFC 9449 §7.1, §7.2, §9; RFC 6750 §3, §3.1):
 * status, `WWW-Authenticate` challenges with `algs`, `DPoP-Nonce` when a nonce is due,
 * `Cache-Control: no-store`, and a JSON body. Every adapter sends exactly what this returns.
 *
 * @module
 */
import { formatChallenge, type ChallengeParams } from '../core/challenge.js';
import { DPoPError } from '../core/errors.js';
import { ResourceServerError, type ResourceServerErrorName, type ResourceServerReason } from './errors.js';
import { EXPOSE_HEADER, EXPOSED_ON_REFUSAL } from './expose.js';
import type { Rejected, RejectionBody } from './types.js';

export interface ChallengeOptions {
  /** Space-delimited proof algorithms, sent as `algs` (RFC 9449 §7.1 SHOULD). */
  algs: string;
  /** Whether unbound Bearer tokens are accepted: then a `Bearer` challenge is sent too (§7.2). */
  bearer: boolean;
  /** Optional `realm` (RFC 6750 §3). */
  realm?: string | undefined;
  /** RFC 9728 §5.1: the URL of this resource's metadata, in every challenge (DPoP and Bearer). */
  resourceMetadata?: string | undefined;
}

/** The error parameters of a challenge. */
export interface ChallengeError {
  error: string;
  description: string;
  scope?: string | undefined;
  /** RFC 9470 §3 `acr_values` and `max_age` of `insufficient_user_authentication`. */
  acrValues?: string | undefined;
  maxAge?: number | undefined;
}

/** Which scheme the client used, when that can be told (§7.2: the error goes in its challenge). */
export type UsedScheme = 'DPoP' | 'Bearer' | undefined;

/**
 * Headers for a refusal. RFC 6750 §3.1: with no credentials at all, challenges carry no error.
 * RFC 9449 §7.2: when the scheme used can be told, the error goes in that scheme's challenge
 * only; otherwise both challenges carry it.
 */
export function challengeHeader(options: ChallengeOptions, error?: ChallengeError, used?: UsedScheme): string {
  const base: ChallengeParams = options.realm !== undefined ? { realm: options.realm } : {};
  if (options.resourceMetadata !== undefined) base.resource_metadata = options.resourceMetadata;
  const withError = (scheme: 'DPoP' | 'Bearer'): ChallengeParams => {
    if (!error || (used !== undefined && used !== scheme)) return { ...base };
    const params: ChallengeParams = { ...base, ...(error.scope !== undefined ? { scope: error.scope } : {}), error: error.error, error_description: error.description };
    // RFC 9470 §3: what the sign-in must meet, in the challenge of the scheme used.
    if (error.acrValues !== undefined) params.acr_values = error.acrValues;
    if (error.maxAge !== undefined) params.max_age = String(error.maxAge);
    return params;
  };
  const dpop = formatChallenge('DPoP', { ...withError('DPoP'), algs: options.algs });
  if (!options.bearer) return dpop;
  return `${formatChallenge('Bearer', withError('Bearer'))}, ${dpop}`;
}

/** Turn a `DPoPError` or `ResourceServerError` into the full HTTP answer. */
export function reject(err: DPoPError | ResourceServerError, options: ChallengeOptions, used: UsedScheme): Rejected {
  const headers: Record<string, string> = {
    'Cache-Control': 'no-store',
    // RFC 9449 §7.1, §8: browser clients only see these when exposed (adapters merge this
    // with the application's own list).
    [EXPOSE_HEADER]: EXPOSED_ON_REFUSAL,
  };
  const reason = err.reason as ResourceServerReason;
  const error = err.error as ResourceServerErrorName;
  const scope = err instanceof ResourceServerError ? err.scope : undefined;
  // An RFC-worded description, without internals (detail stays in the logs).
  const description = err.message;
  if (err.status === 503) {
    headers['Retry-After'] = '1';
    const body: RejectionBody = { error, error_description: description };
    return { ok: false, status: 503, headers, body, reason, error };
  }
  if (reason === 'missing_credentials' || reason === 'unsupported_scheme') {
    // RFC 6750 §3.1: no error code when the request carried no usable authentication.
    headers['WWW-Authenticate'] = challengeHeader(options);
    return { ok: false, status: 401, headers, body: { error_description: description }, reason, error: undefined };
  }
  const stepUp = err instanceof ResourceServerError ? { acrValues: err.acrValues, maxAge: err.maxAge } : {};
  headers['WWW-Authenticate'] = challengeHeader(options, { error, description, scope, ...stepUp }, used);
  if (err.nonce !== undefined) headers['DPoP-Nonce'] = err.nonce;
  const body: RejectionBody = { error, error_description: description };
  if (scope !== undefined) body.scope = scope;
  return { ok: false, status: err.status, headers, body, reason, error };
}

/** A `Response` for a refusal (Web adapters). */
export function toResponse(rejection: Rejected): Response {
  return new Response(JSON.stringify(rejection.body), {
    status: rejection.status,
    headers: { ...rejection.headers, 'Content-Type': 'application/json' },
  });
}
