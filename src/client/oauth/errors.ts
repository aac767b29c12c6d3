/**
 * `OAuthResponseError`: an authorization server said no (RFC 6749 §5.2), or answered something a client
 * must not accept (wrong `token_type`, wrong `iss`, malformed JSON), or could not be reached.
 *
 * @module
 */

/** Error codes dpopkit's client uses for problems that are not the server's own error names. */
export type ClientErrorCode =
  /** The server could not be reached (DNS, refused, reset, aborted). `status` is 0. */
  | 'network_error'
  /** The answer was not the JSON object the protocol requires. */
  | 'invalid_response'
  /** RFC 9449 §5: a proof was sent, yet the token is not `token_type: DPoP` (a Bearer downgrade). */
  | 'token_type_mismatch'
  /** RFC 8414 §3.3: the metadata's `issuer` is not the issuer asked for. */
  | 'issuer_mismatch'
  /** RFC 9207 §2.4: the authorization response's `iss` is not the expected issuer. */
  | 'invalid_issuer'
  /** RFC 8414 / RFC 9126: the metadata lacks an endpoint this step needs. */
  | 'missing_endpoint'
  /** A URL a server named is not an absolute URL. */
  | 'invalid_url'
  /** A URL a server named is plain http to a host that is not loopback (or carries user information). */
  | 'insecure_url'
  /** A server answered a discovery or registration request with a redirect (never followed). */
  | 'redirect_refused'
  /** A document was larger than the client accepts. */
  | 'response_too_large'
  /** RFC 9728 §3.3: the protected resource metadata describes another resource (impersonation). */
  | 'resource_mismatch'
  /** RFC 9728: the API names no metadata and publishes none at the well-known URLs. */
  | 'no_resource_metadata'
  /** RFC 9728: the resource's metadata names no (selected) authorization server. */
  | 'no_authorization_server'
  /** `createTokenHolder`: the holder was cleared (sign-out) and has no tokens. */
  | 'no_token'
  /** `createTokenHolder`: the access token has expired and there is no refresh token. */
  | 'token_expired';

export interface OAuthResponseErrorOptions {
  /** The server's `error_description` (RFC 6749 §5.2). */
  error_description?: string;
  /** HTTP status (default: the response's, else 0). */
  status?: number;
  /** The HTTP response, when there was one. */
  response?: Response;
  /** A message other than `"<error>: <error_description>"`. */
  message?: string;
  cause?: unknown;
}

/**
 * An error answered by an authorization server (RFC 6749 §5.2), or a response the client
 * refused, or no response at all. Its fields carry the RFC's own names, as oauth4webapi's
 * `ResponseBodyError` does: `error`, `error_description`, `status`; the `Response` is the
 * non-enumerable `response` (its body has been read), so logging the error does not dump it.
 */
export class OAuthResponseError extends Error {
  override readonly name = 'OAuthResponseError';
  /** The RFC 6749 §5.2 `error` (e.g. `invalid_grant`, `use_dpop_nonce`) or a {@link ClientErrorCode}. */
  readonly error: string;
  /** The server's `error_description`, if any. */
  readonly error_description: string | undefined;
  /** HTTP status of the answer (0 when no answer came). */
  readonly status: number;
  /** The HTTP response, when there was one (non-enumerable; its body has been read). */
  declare readonly response: Response | undefined;

  constructor(error: string, options: OAuthResponseErrorOptions = {}) {
    super(options.message ?? (options.error_description ? `${error}: ${options.error_description}` : error), options.cause === undefined ? undefined : { cause: options.cause });
    this.error = error;
    this.error_description = options.error_description;
    this.status = options.status ?? options.response?.status ?? 0;
    Object.defineProperty(this, 'response', { value: options.response, enumerable: false, writable: false, configurable: true });
  }
}
