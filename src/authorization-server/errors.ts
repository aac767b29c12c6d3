/**
 * OAuth error answers (RFC 6749 §5.2) and the mapping of core `DPoPError`s onto them
 * (RFC 9449 §5, §8): the one place where a refusal becomes status, headers and JSON body.
 *
 * @module
 */
import { DPoPError } from '../core/errors.js';

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
  | 'server_error';

/** A refusal that becomes an RFC 6749 §5.2 JSON error response. */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly error: OAuthErrorCode;
  readonly status: number;
  /** Extra response headers (`WWW-Authenticate`, `DPoP-Nonce`). */
  readonly headers: Record<string, string>;

  constructor(error: OAuthErrorCode, description: string, status?: number, headers: Record<string, string> = {}) {
    super(description);
    this.error = error;
    this.status = status ?? defaultStatus(error);
    this.headers = headers;
  }
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
 * (not the resource server's 401) for `invalid_dpop_proof` and `use_dpop_nonce`. The stable
 * `reason` leads the description, so clients and logs can key on it.
 */
export function fromDPoPError(err: DPoPError): OAuthError {
  const headers: Record<string, string> = {};
  if (err.nonce !== undefined) headers['DPoP-Nonce'] = err.nonce;
  const description = `${err.reason}: ${err.message}`;
  switch (err.error) {
    case 'use_dpop_nonce': return new OAuthError('use_dpop_nonce', description, 400, headers);
    case 'temporarily_unavailable': return new OAuthError('temporarily_unavailable', description, 503, headers);
    case 'invalid_request': return new OAuthError('invalid_request', description, 400, headers);
    default: return new OAuthError('invalid_dpop_proof', description, 400, headers);
  }
}

/** Headers every token-endpoint-like answer carries (RFC 6749 §5.1: no caching of tokens). */
export const NO_STORE: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'Content-Type': 'application/json;charset=UTF-8',
};

/** A JSON answer with `Cache-Control: no-store`. */
export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...NO_STORE, ...headers } });
}

/** The subset of a pino logger `errorResponse` writes to. */
interface RefusalLog {
  debug?(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

/**
 * The RFC 6749 §5.2 body for an error. Refusals are logged at `info` with the error and the
 * stable reason (never a token, secret or proof), nonce challenges at `debug`; anything
 * unexpected becomes a `server_error` logged at `error`.
 */
export function errorResponse(err: unknown, extraHeaders: Record<string, string> = {}, log?: RefusalLog, endpoint?: string): Response {
  let oauth: OAuthError;
  if (err instanceof OAuthError) oauth = err;
  else if (err instanceof DPoPError) oauth = fromDPoPError(err);
  else {
    log?.error({ err, endpoint }, 'unexpected failure');
    oauth = new OAuthError('server_error', 'the server could not process the request');
  }
  if (oauth.status < 500 && log) {
    // Observability: rejections by endpoint, error and reason (the reason leads the description).
    const reason = /^([a-z_]+):/.exec(oauth.message)?.[1];
    // RFC 9449 §8: a nonce challenge is the normal first round trip, not a refusal.
    if (oauth.error === 'use_dpop_nonce') log.debug?.({ endpoint, error: oauth.error, reason, status: oauth.status }, 'nonce challenge (use_dpop_nonce)');
    else log.info({ endpoint, error: oauth.error, reason, status: oauth.status }, 'request refused');
  }
  // RFC 9110 §10.2.3: a temporary failure says when to come back.
  const retry: Record<string, string> = oauth.status === 503 ? { 'Retry-After': '1' } : {};
  return jsonResponse({ error: oauth.error, error_description: oauth.message }, oauth.status, { ...retry, ...extraHeaders, ...oauth.headers });
}
