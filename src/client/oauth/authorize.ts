/**
 * The front half of the authorization code flow: the authorize URL (RFC 6749 §4.1.1 with PKCE,
 * RFC 7636, and `dpop_jkt`, RFC 9449 §10), or the same parameters pushed first (PAR, RFC 9126).
 *
 * @module
 */
import type { DPoPClient } from '../dpop-client.js';
import { OAuthResponseError } from './errors.js';
import { appendResource, type ResourceIndicator } from './resource-indicator.js';
import { applyClientAuth, errorFrom, postForm, readJsonObject } from './token-request.js';
import type { AuthorizationServerMetadata, ClientAuth } from './types.js';

/** Parameters of an authorization request. */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  scope?: string;
  /** Opaque CSRF value (RFC 6749 §10.12); check it on the way back. */
  state: string;
  /** S256 PKCE challenge from `createPkce()`. */
  codeChallenge: string;
  /**
   * RFC 9449 §10: the thumbprint the code will be bound to, so only this key can redeem it.
   * `authorizationUrl` adds it only when given; `pushAuthorizationRequest` defaults to the client's key.
   */
  dpopJkt?: string;
  /** RFC 8707: the API(s) the token is for (sent once per value). */
  resource?: ResourceIndicator;
  /** Further parameters (e.g. `prompt`, `login_hint`). */
  extra?: Record<string, string>;
}

function endpoint(metadata: AuthorizationServerMetadata, member: 'authorization_endpoint' | 'pushed_authorization_request_endpoint'): string {
  const value = metadata[member];
  if (typeof value !== 'string' || value === '') throw new OAuthResponseError('missing_endpoint', { message: `the authorization server metadata has no ${member}` });
  return value;
}

function requestParams(request: AuthorizationRequest, dpopJkt: string | undefined): URLSearchParams {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(request.extra ?? {})) params.set(name, value);
  params.set('response_type', 'code');
  params.set('client_id', request.clientId);
  params.set('redirect_uri', request.redirectUri);
  if (request.scope !== undefined) params.set('scope', request.scope);
  params.set('state', request.state);
  appendResource(params, request.resource);
  params.set('code_challenge', request.codeChallenge);
  params.set('code_challenge_method', 'S256');
  if (dpopJkt !== undefined) params.set('dpop_jkt', dpopJkt);
  return params;
}

/**
 * Build the URL to send the user to: `response_type=code`, PKCE S256, and `dpop_jkt` when given.
 *
 * @example
 * ```ts
 * const pkce = await createPkce();
 * const url = authorizationUrl(metadata, { clientId, redirectUri, state, codeChallenge: pkce.codeChallenge,
 *   dpopJkt: await client.thumbprint() });
 * ```
 */
export function authorizationUrl(metadata: AuthorizationServerMetadata, request: AuthorizationRequest): URL {
  const url = new URL(endpoint(metadata, 'authorization_endpoint'));
  const params = requestParams(request, request.dpopJkt);
  // Each parameter replaces one of the endpoint URL's own; a repeated one (`resource`) stays repeated.
  for (const name of new Set(params.keys())) {
    url.searchParams.delete(name);
    for (const value of params.getAll(name)) url.searchParams.append(name, value);
  }
  return url;
}

/**
 * Parameters of {@link pushAuthorizationRequest}: the authorization request and the
 * {@link ClientAuth} part (a confidential client authenticates at the PAR endpoint, RFC 9126 §2.1).
 */
export interface PushedAuthorizationRequest extends AuthorizationRequest, ClientAuth {}

/**
 * Push the authorization request (RFC 9126) with a DPoP proof, and return the authorize URL that
 * carries only `client_id` and the `request_uri` received. `dpop_jkt` defaults to the client's
 * own key (RFC 9449 §10.1), so the code is bound to it either way.
 *
 * @throws OAuthResponseError the server's error (e.g. `invalid_request`), `network_error`,
 *   `invalid_response` or `missing_endpoint`.
 */
export async function pushAuthorizationRequest(client: DPoPClient, metadata: AuthorizationServerMetadata, request: PushedAuthorizationRequest): Promise<URL> {
  const parEndpoint = endpoint(metadata, 'pushed_authorization_request_endpoint');
  const authorize = endpoint(metadata, 'authorization_endpoint');
  const body = requestParams(request, request.dpopJkt ?? (await client.thumbprint()));
  const headers = new Headers();
  // RFC 9126 §2.1: client authentication as at the token endpoint (a public client: client_id).
  body.delete('client_id');
  applyClientAuth(request, headers, body);
  const response = await postForm(client, parEndpoint, body, headers);
  // RFC 9126 §2.2: 201 Created on success.
  if (!response.ok) throw await errorFrom(response, 'the pushed authorization request endpoint');
  const json = await readJsonObject(response, 'the pushed authorization request endpoint');
  if (typeof json.request_uri !== 'string' || json.request_uri === '') {
    throw new OAuthResponseError('invalid_response', { response, message: 'the PAR response has no request_uri' });
  }
  const url = new URL(authorize);
  url.searchParams.set('client_id', request.clientId);
  url.searchParams.set('request_uri', json.request_uri);
  return url;
}
