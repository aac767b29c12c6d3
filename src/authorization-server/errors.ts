/**
 * OAuth error answers (RFC 6749 §5.2) and the mapping of core `DPoPError`s onto them
 * (RFC 9449 §5, §8): the one place where a refusal becomes status, headers and JSON body.
 *
 * @module
 */
import { DPoPError, type DPoPReason } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { AsResponse } from './as-response.js';

/** RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 9449 §5/§8 and RFC 9126 error codes this server uses. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'unsupported_token_type'
  | 'unsupported_response_type'
  | 'access_denied'
  | 'temporarily_unavailable'
  | 'server_error'
  // RFC 8707 §2: a resource that is unknown, not allowed or malformed
  | 'invalid_target'
  // RFC 7591 §3.2.2: registration refused; RFC 6750 §3.1: a wrong initial access token
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'invalid_token';

/**
 * Stable machine codes for every way the authorization server refuses a request: the core proof
 * reasons (a `DPoPError` keeps its reason here) and the server's own. Logged with every refusal
 * and leading `error_description` (`"<reason>: <message>"`), so tests, metrics and clients can
 * key on it.
 */
export type AuthorizationServerReason =
  | DPoPReason
  // the HTTP request itself (form.ts, router.ts, the adapters)
  | 'not_found'
  | 'method_not_allowed'
  | 'body_too_large'
  | 'body_unreadable'
  | 'body_not_utf8'
  | 'unsupported_content_type'
  | 'duplicate_parameter'
  | 'missing_parameter'
  | 'parameter_too_long'
  | 'request_too_long'
  // RFC 6749 §4.1.1, RFC 7636, RFC 9126, RFC 9449 §10: authorization requests
  | 'unsupported_response_type'
  | 'pkce_required'
  | 'pkce_method_not_supported'
  | 'bad_code_challenge'
  | 'bad_code_verifier'
  | 'bad_dpop_jkt'
  | 'request_uri_not_allowed'
  | 'request_object_not_supported'
  | 'bad_max_age'
  | 'redirect_uri_not_registered'
  // RFC 6749 §3.3, RFC 8707 §2: scopes and resources
  | 'bad_scope_syntax'
  | 'scope_not_allowed'
  | 'invalid_target'
  // RFC 6749 §2.3, §3.2.1, RFC 7523: client authentication
  | 'malformed_client_credentials'
  | 'multiple_client_auth'
  | 'client_id_mismatch'
  | 'unknown_client'
  | 'client_auth_failed'
  | 'auth_method_mismatch'
  | 'no_client_keys'
  | 'bad_assertion_type'
  | 'bad_client_assertion'
  | 'client_assertion_replayed'
  | 'client_auth_required'
  // RFC 6749 §4.1.3, §5.2, §6, §10.4, RFC 7009: grants and tokens
  | 'unsupported_grant_type'
  | 'grant_not_allowed'
  | 'invalid_code'
  | 'code_reused'
  | 'client_mismatch'
  | 'redirect_uri_mismatch'
  | 'pkce_mismatch'
  | 'invalid_refresh_token'
  | 'refresh_token_reused'
  | 'token_not_issued_to_client'
  // RFC 7662 §2.1
  | 'introspection_not_allowed'
  // RFC 9449 §11.1: the holder's share of the replay cache (429)
  | 'replay_quota_exceeded'
  // RFC 6585 §4: guessing throttled (429), or the bound on scrypt work reached (503)
  | 'throttled'
  | 'busy'
  // RFC 7591: dynamic client registration
  | 'invalid_client_metadata'
  | 'invalid_redirect_uri'
  | 'initial_access_token_missing'
  | 'initial_access_token_invalid'
  | 'registration_closed'
  | 'registration_failed'
  // draft-ietf-oauth-first-party-apps: the authorization challenge endpoint
  | 'not_first_party'
  | 'auth_session_mismatch'
  | 'scope_exceeds_grant'
  | 'acr_unreachable'
  | 'unknown_user'
  // the server's own condition
  | 'storage_unavailable'
  | 'internal_error';

export interface OAuthErrorOptions {
  /** HTTP status (default: 401 for `invalid_client`, 503 `temporarily_unavailable`, 500 `server_error`, else 400). */
  status?: number;
  /** Extra response headers (`WWW-Authenticate`, `DPoP-Nonce`, `Retry-After`). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * A refusal that becomes an RFC 6749 §5.2 JSON error response: `error` is the RFC's name,
 * `reason` a stable code, `status` the HTTP status this server answers with, `message` what
 * was wrong (the body's `error_description` is `"<reason>: <message>"`, see {@link describe}).
 */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly error: OAuthErrorCode;
  /** Stable machine code; logs, metrics and tests key on it. */
  readonly reason: AuthorizationServerReason;
  readonly status: number;
  /** Extra response headers (`WWW-Authenticate`, `DPoP-Nonce`). */
  readonly headers: Record<string, string>;

  constructor(error: OAuthErrorCode, reason: AuthorizationServerReason, message: string, options: OAuthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.error = error;
    this.reason = reason;
    this.status = options.status ?? defaultStatus(error);
    this.headers = options.headers ?? {};
  }
}

/**
 * The `error_description` of a refusal: its reason, then its message. Composed here only, from
 * the two fields (a presentation: nothing ever parses it back).
 */
export function describe(err: OAuthError): string {
  return `${err.reason}: ${err.message}`;
}

function defaultStatus(error: OAuthErrorCode): number {
  switch (error) {
    case 'invalid_client': return 401;
    case 'temporarily_unavailable': return 503;
    case 'server_error': return 500;
    default: return 400;
  }
}

/**
 * Turn a core `DPoPError` into the authorization server's answer: RFC 9449 §5 and §8 say 400
 * (not the resource server's 401) for `invalid_dpop_proof` and `use_dpop_nonce`; the proof's
 * `reason` is kept.
 */
export function fromDPoPError(err: DPoPError): OAuthError {
  const headers: Record<string, string> = {};
  if (err.nonce !== undefined) headers['DPoP-Nonce'] = err.nonce;
  const options = (status: number): OAuthErrorOptions => ({ status, headers, cause: err });
  switch (err.error) {
    case 'use_dpop_nonce': return new OAuthError('use_dpop_nonce', err.reason, err.message, options(400));
    case 'temporarily_unavailable': return new OAuthError('temporarily_unavailable', err.reason, err.message, options(503));
    case 'invalid_request': return new OAuthError('invalid_request', err.reason, err.message, options(400));
    default: return new OAuthError('invalid_dpop_proof', err.reason, err.message, options(400));
  }
}

/** Headers every token-endpoint-like answer carries (RFC 6749 §5.1: no caching of tokens). */
export const NO_STORE: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'Content-Type': 'application/json;charset=UTF-8',
};

/** 503: the replay cache (or the quota in front of it) cannot be reached; nothing was recorded. */
export function replayCacheUnavailable(): OAuthError {
  return new OAuthError('temporarily_unavailable', 'replay_cache_unavailable', 'the replay cache cannot be reached', { status: 503 });
}

/** A JSON answer with `Cache-Control: no-store`. */
export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): AsResponse {
  return new AsResponse(JSON.stringify(body), status, { ...NO_STORE, ...headers });
}

/**
 * The RFC 6749 §5.2 body for an error. Refusals are logged at `info` with the error and the
 * stable reason (never a token, secret or proof), nonce challenges at `debug`; anything
 * unexpected becomes a `server_error` logged at `error`.
 */
export function errorResponse(err: unknown, extraHeaders: Record<string, string> = {}, log?: Logger, endpoint?: string): AsResponse {
  let oauth: OAuthError;
  if (err instanceof OAuthError) oauth = err;
  else if (err instanceof DPoPError) oauth = fromDPoPError(err);
  else {
    log?.error({ err, endpoint }, 'unexpected failure');
    oauth = new OAuthError('server_error', 'internal_error', 'the server could not process the request');
  }
  if (oauth.status < 500 && log) {
    // Observability: rejections by endpoint, error and reason.
    const entry = { endpoint, error: oauth.error, reason: oauth.reason, status: oauth.status };
    // RFC 9449 §8: a nonce challenge is the normal first round trip, not a refusal.
    if (oauth.error === 'use_dpop_nonce') log.debug(entry, 'nonce challenge (use_dpop_nonce)');
    else log.info(entry, 'request refused');
  }
  // RFC 9110 §10.2.3: a temporary failure says when to come back.
  const retry: Record<string, string> = oauth.status === 503 ? { 'Retry-After': '1' } : {};
  return jsonResponse({ error: oauth.error, error_description: describe(oauth) }, oauth.status, { ...retry, ...extraHeaders, ...oauth.headers });
}
