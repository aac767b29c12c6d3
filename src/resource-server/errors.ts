/**
 * Rejections of the resource server that are not about the proof itself: the `Authorization`
 * header, the access token, the request URL, scopes, and the servers the resource server asks
 * (JWKS, introspection). Proof failures stay core `DPoPError`s; both carry `error`, `reason`,
 * `status` and a log-only `detail`, and `respond.ts` turns either into an HTTP answer.
 *
 * @module
 */
import type { DPoPErrorName, DPoPReason } from '../core/errors.js';

/** RFC 6750 §3.1 and RFC 9449 §7.1 error names, plus a temporary failure (503). */
export type ResourceServerErrorName = DPoPErrorName | 'insufficient_scope' | 'insufficient_user_authentication' | 'server_error';

/** Stable machine codes for every way a request can be refused (core proof reasons included). */
export type ResourceServerReason =
  | DPoPReason
  // RFC 6750 §2.1, §3.1 and RFC 9449 §7.1, §7.2: the Authorization header
  | 'missing_credentials'
  | 'unsupported_scheme'
  | 'multiple_authorization'
  | 'malformed_authorization'
  | 'bearer_with_proof'
  | 'bearer_downgrade'
  | 'token_not_bound'
  | 'unsupported_binding'
  | 'bad_cnf'
  // RFC 9068 §4 / RFC 7662 §2.2: the access token
  | 'token_malformed'
  | 'token_bad_typ'
  | 'token_alg_not_allowed'
  | 'token_unknown_kid'
  | 'token_bad_signature'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_bad_issuer'
  | 'token_bad_audience'
  | 'token_inactive'
  // servers asked on the way (fail closed: 503)
  | 'jwks_unavailable'
  | 'introspection_unavailable'
  | 'metadata_unavailable'
  // request URL reconstruction (auth0 node-oauth2-jwt-bearer #244): 400 invalid_request
  | 'bad_host'
  | 'host_not_allowed'
  | 'host_mismatch'
  | 'bad_request_target'
  | 'bad_forwarded'
  | 'forwarded_conflict'
  | 'dot_segment'
  | 'encoded_separator'
  // RFC 6750 §3.1
  | 'insufficient_scope'
  // RFC 9470 §3: the token's acr is not one the route accepts, or its auth_time is too old
  | 'acr_not_satisfied'
  | 'auth_time_too_old'
  // a bug or an unexpected failure (answered 500, logged)
  | 'internal_error';

const STATUS: Record<ResourceServerErrorName, number> = {
  invalid_dpop_proof: 401,
  use_dpop_nonce: 401,
  invalid_token: 401,
  invalid_request: 400,
  insufficient_scope: 403,
  // RFC 9470 §3
  insufficient_user_authentication: 401,
  server_error: 500,
  temporarily_unavailable: 503,
};

export interface ResourceServerErrorOptions {
  /** Log-only detail (never sent to the client). */
  detail?: Record<string, unknown>;
  /** For `insufficient_scope`: the scope the resource needs (RFC 6750 §3 `scope`). */
  scope?: string;
  /** For `insufficient_user_authentication` (RFC 9470 §3): the `acr_values` the route accepts. */
  acrValues?: string;
  /** For `insufficient_user_authentication` (RFC 9470 §3): the `max_age` of the sign-in. */
  maxAge?: number;
  cause?: unknown;
}

/** A refused request, for any reason other than the proof failing RFC 9449 §4.3. */
export class ResourceServerError extends Error {
  override readonly name = 'ResourceServerError';
  readonly error: ResourceServerErrorName;
  readonly reason: ResourceServerReason;
  readonly status: number;
  readonly detail: Record<string, unknown> | undefined;
  readonly scope: string | undefined;
  /** RFC 9470 §3 challenge parameters of `insufficient_user_authentication`. */
  readonly acrValues: string | undefined;
  readonly maxAge: number | undefined;
  /** Never set here; present so a `DPoPError` and a `ResourceServerError` read alike. */
  readonly nonce: string | undefined = undefined;

  constructor(error: ResourceServerErrorName, reason: ResourceServerReason, message: string, options: ResourceServerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.error = error;
    this.reason = reason;
    this.status = STATUS[error];
    this.detail = options.detail;
    this.scope = options.scope;
    this.acrValues = options.acrValues;
    this.maxAge = options.maxAge;
  }
}

/** `invalid_token` (RFC 6750 §3.1): the token is expired, revoked, malformed or invalid. */
export function invalidToken(reason: ResourceServerReason, message: string, detail?: Record<string, unknown>): ResourceServerError {
  return new ResourceServerError('invalid_token', reason, message, detail ? { detail } : {});
}

/** `invalid_request` (RFC 6750 §3.1): a malformed request; answered 400. */
export function invalidRequest(reason: ResourceServerReason, message: string, detail?: Record<string, unknown>): ResourceServerError {
  return new ResourceServerError('invalid_request', reason, message, detail ? { detail } : {});
}

/** 503: a server we depend on cannot answer; the request is refused, never waved through. */
export function unavailable(reason: ResourceServerReason, message: string, cause?: unknown): ResourceServerError {
  return new ResourceServerError('temporarily_unavailable', reason, message, cause === undefined ? {} : { cause });
}
