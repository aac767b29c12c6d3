/**
 * Validation of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 9449 §10),
 * shared by `/authorize` and `/par`. Two stages, because their errors travel differently:
 * until the redirect URI is known to be registered, nothing may be sent to it (RFC 6749
 * §4.1.2.1: no open redirect); after that, errors go back to the client by redirect.
 *
 * @module
 */
import { JKT_SYNTAX } from './binding.js';
import { OAuthError } from './errors.js';
import type { FormParams } from './form.js';
import { loopbackRedirectMatch } from './registration.js';
import { grantScope } from './scopes.js';
import type { ClientRecord } from './storage.js';

/** An error that must be shown to the user, never redirected (bad client or redirect URI). */
export class UnsafeRedirectError extends OAuthError {}

/** RFC 7636 §4.2: the S256 challenge is 43 base64url characters. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const MAX_PARAM_LENGTH = 2048;

/**
 * RFC 6749 §3.1.2.3 and RFC 9700 §4.1.3: exact string match against a registered URI; when
 * the request has none, the client's only registered URI.
 */
export function resolveRedirectUri(client: ClientRecord, requested: string | undefined): string {
  if (requested === undefined) {
    if (client.redirectUris.length === 1) return client.redirectUris[0]!;
    throw new UnsafeRedirectError('invalid_request', 'missing_parameter', 'redirect_uri is required');
  }
  // RFC 8252 §7.3: a registered client's loopback redirect URI, on whatever port (registration.ts).
  if (!client.redirectUris.includes(requested) && !loopbackRedirectMatch(client, requested)) {
    throw new UnsafeRedirectError('invalid_request', 'redirect_uri_not_registered', 'redirect_uri is not registered for this client (exact match required)');
  }
  return requested;
}

/**
 * The rest of the request, once the redirect URI is safe. Returns the parameters the server
 * keeps (in the interaction, PAR record and code).
 */
export function validateAuthorizationParams(client: ClientRecord, params: FormParams, redirectUri: string): Record<string, string> {
  for (const [name, value] of params) {
    if (value.length > MAX_PARAM_LENGTH) throw new OAuthError('invalid_request', 'parameter_too_long', `the "${name.slice(0, 64)}" parameter is too long`);
  }
  const responseType = params.get('response_type');
  if (responseType === undefined) throw new OAuthError('invalid_request', 'missing_parameter', 'the "response_type" parameter is missing');
  if (responseType !== 'code') throw new OAuthError('unsupported_response_type', 'unsupported_response_type', 'only response_type=code is supported');
  if (!client.grantTypes.includes('authorization_code')) throw new OAuthError('unauthorized_client', 'grant_not_allowed', 'this client may not use the authorization code grant');
  const challenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  // PKCE is required, and only S256 (RFC 9700 §2.1.1; "plain" gives no protection once the request leaks).
  if (challenge === undefined) throw new OAuthError('invalid_request', 'pkce_required', 'code_challenge is required (PKCE, RFC 7636)');
  if (method !== 'S256') throw new OAuthError('invalid_request', 'pkce_method_not_supported', 'code_challenge_method must be S256 (plain is not supported)');
  if (!CHALLENGE.test(challenge)) throw new OAuthError('invalid_request', 'bad_code_challenge', 'code_challenge must be 43 base64url characters (RFC 7636 §4.2)');
  const dpopJkt = params.get('dpop_jkt');
  if (dpopJkt !== undefined && !JKT_SYNTAX.test(dpopJkt)) throw new OAuthError('invalid_request', 'bad_dpop_jkt', 'dpop_jkt must be a base64url SHA-256 JWK thumbprint (RFC 9449 §10)');
  const scope = grantScope(params.get('scope'), client.scope);
  const kept: Record<string, string> = {
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: redirectUri,
    scope,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  for (const name of ['state', 'dpop_jkt', 'nonce'] as const) {
    const value = params.get(name);
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

/** The client's redirect URI with the response parameters added (existing query kept, RFC 6749 §3.1.2). */
export function redirectTo(redirectUri: string, values: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(values)) if (value !== undefined) url.searchParams.append(name, value);
  return url.href;
}
