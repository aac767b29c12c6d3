/**
 * Token grants with DPoP (RFC 9449 §5): authorization code with PKCE, client credentials, and
 * refresh with rotation. Each goes through the client, so the proof, the nonce retry (§8, which
 * the code exchange needs as much as any grant: auth0/nextjs-auth0 #2390) and the `token_type`
 * check happen in one place.
 *
 * @module
 */
import type { DPoPClient } from '../dpop-client.js';
import { OAuthResponseError } from './errors.js';
import { appendResource, type ResourceIndicator } from './resource-indicator.js';
import { tokenRequest, type TokenRequestOptions } from './token-request.js';
import type { AuthorizationServerMetadata, TokenEndpointTarget, TokenResponse } from './types.js';

/** Parameters of {@link exchangeCode}: the {@link TokenRequestOptions} (client authentication included) and the code's. */
export interface CodeExchange extends TokenRequestOptions {
  /** The `code` from the redirect. */
  code: string;
  /** The same `redirect_uri` the authorization request used (RFC 6749 §4.1.3). */
  redirectUri: string;
  /** The PKCE verifier whose challenge went into the authorization request. */
  codeVerifier: string;
  /** RFC 8707 §2.2: narrow the token to some of the resources the authorization request asked for. */
  resource?: ResourceIndicator;
  /**
   * The `iss` parameter of the authorization response (RFC 9207). When given, it must equal the
   * metadata's `issuer`, or the code is not sent anywhere (mix-up defence, RFC 9207 §2.4).
   */
  iss?: string;
}

/**
 * Redeem an authorization code (RFC 6749 §4.1.3 + PKCE) for DPoP-bound tokens.
 *
 * @throws OAuthResponseError the server's error (`invalid_grant`, …), `invalid_issuer`,
 *   `token_type_mismatch`, `network_error`, `invalid_response`.
 */
export async function exchangeCode(client: DPoPClient, metadata: AuthorizationServerMetadata, options: CodeExchange): Promise<TokenResponse> {
  if (options.iss !== undefined && options.iss !== metadata.issuer) {
    throw new OAuthResponseError('invalid_issuer', { message: `the authorization response came from ${JSON.stringify(options.iss)}, not ${JSON.stringify(metadata.issuer)}` });
  }
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: options.code,
    redirect_uri: options.redirectUri,
    code_verifier: options.codeVerifier,
  });
  appendResource(body, options.resource);
  return tokenRequest(client, metadata, body, options);
}

/** Parameters of {@link clientCredentials}: the {@link TokenRequestOptions} (client authentication included), scope and resource. */
export interface ClientCredentialsGrant extends TokenRequestOptions {
  scope?: string;
  /** RFC 8707: the API(s) the token is for. */
  resource?: ResourceIndicator;
}

/**
 * Client credentials grant (RFC 6749 §4.4) for a DPoP-bound token.
 *
 * @example
 * ```ts
 * const token = await clientCredentials(client, { tokenEndpoint: 'https://as.example/token' },
 *   { clientId: 'svc', clientSecret: 's3cret' });
 * ```
 */
export async function clientCredentials(client: DPoPClient, target: TokenEndpointTarget, options: ClientCredentialsGrant): Promise<TokenResponse> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  if (options.scope !== undefined) body.set('scope', options.scope);
  appendResource(body, options.resource);
  return tokenRequest(client, target, body, options);
}

/** Parameters of {@link refresh}: the {@link TokenRequestOptions} (client authentication included) and the refresh token. */
export interface RefreshGrant extends TokenRequestOptions {
  refreshToken: string;
  /** RFC 8707: narrow the new token to some of the grant's resources. */
  resource?: ResourceIndicator;
  /** A narrower scope (RFC 6749 §6). */
  scope?: string;
}

/**
 * Refresh (RFC 6749 §6) with the same key. Rotation: when the server issues a new refresh token
 * the response carries it; when it does not, the old one stays valid and is copied into the
 * response, so callers can always keep `response.refresh_token`.
 */
export async function refresh(client: DPoPClient, target: TokenEndpointTarget, options: RefreshGrant): Promise<TokenResponse> {
  const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: options.refreshToken });
  if (options.scope !== undefined) body.set('scope', options.scope);
  appendResource(body, options.resource);
  const token = await tokenRequest(client, target, body, options);
  if (typeof token.refresh_token !== 'string' || token.refresh_token === '') token.refresh_token = options.refreshToken;
  return token;
}
