/**
 * Shapes of what an authorization server sends: its metadata (RFC 8414) and token responses
 * (RFC 6749 §5.1, RFC 9449 §5).
 *
 * @module
 */

/** Authorization server metadata (RFC 8414 §2), the members dpopkit uses plus any others. */
export interface AuthorizationServerMetadata {
  issuer: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  pushed_authorization_request_endpoint?: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  revocation_endpoint?: string;
  /** RFC 9449 §5.1: algorithms the server accepts for DPoP proofs. */
  dpop_signing_alg_values_supported?: string[];
  /** RFC 9207 §3: whether authorization responses carry `iss`. */
  authorization_response_iss_parameter_supported?: boolean;
  code_challenge_methods_supported?: string[];
  /** RFC 7591 §3: where clients register themselves. */
  registration_endpoint?: string;
  /** RFC 9728 §4: the protected resources this server issues tokens for. */
  protected_resources?: string[];
  /** The server issues DPoP-bound tokens only and needs a proof with every token request. */
  dpop_bound_access_tokens_required?: boolean;
  /** draft-ietf-oauth-first-party-apps §8: where first-party apps sign users in without a browser. */
  authorization_challenge_endpoint?: string;
  [member: string]: unknown;
}

/** A successful token response (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string;
  /** `DPoP` for a key-bound token (RFC 9449 §5), `Bearer` otherwise. */
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  scope?: string;
  id_token?: string;
  /**
   * Added by dpopkit, not sent by the server: when the access token expires, in epoch seconds,
   * computed from `expires_in` when the response arrived.
   */
  expires_at?: number;
  [member: string]: unknown;
}

/** Where to send token requests: full metadata, or just the endpoint. */
export type TokenEndpointTarget = AuthorizationServerMetadata | { tokenEndpoint: string };

/** How the client authenticates at the token endpoint (RFC 6749 §2.3.1, OAuth registry). */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/**
 * Who the client is and how it authenticates (RFC 6749 §2.3.1, §3.2.1): the part every helper
 * that calls the authorization server's back channel shares (the token helpers and
 * `pushAuthorizationRequest`), in the one options object each takes.
 */
export interface ClientAuth {
  /** The `client_id`. */
  clientId: string;
  /** For a confidential client: its secret. */
  clientSecret?: string;
  /** Default: `client_secret_basic` when a secret is given, else `none` (a public client, `client_id` in the body). */
  authMethod?: ClientAuthMethod;
}
