/**
 * Dynamic client registration (RFC 7591): a client that has found an authorization server
 * registers itself there and gets a `client_id` (and a secret, for the secret methods). dpopkit
 * registers DPoP clients: `dpop_bound_access_tokens` (RFC 9449 §5.2) is `true` unless said
 * otherwise, so the server refuses that client's token requests without a proof.
 *
 * The request goes through the same bounded fetch as discovery (`safe-fetch.ts`).
 *
 * @module
 */
import { OAuthResponseError } from './oauth/errors.js';
import type { AuthorizationServerMetadata } from './oauth/types.js';
import { checkFetchableUrl, createSafeFetch, type SafeFetchOptions } from './safe-fetch.js';

/** Client metadata (RFC 7591 §2, RFC 9449 §5.2): the common members, and any others. */
export interface ClientMetadata {
  redirect_uris?: string[];
  /** Default at the server: `client_secret_basic`; a native or browser app sends `none`. */
  token_endpoint_auth_method?: 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | (string & {});
  grant_types?: string[];
  response_types?: string[];
  client_name?: string;
  scope?: string;
  jwks?: { keys: Record<string, unknown>[] };
  jwks_uri?: string;
  /** RFC 9449 §5.2 (default here: `true`). */
  dpop_bound_access_tokens?: boolean;
  [member: string]: unknown;
}

/** The registration response (RFC 7591 §3.2.1): the client's id, secret and metadata as registered. */
export interface RegisteredClient extends ClientMetadata {
  client_id: string;
  client_secret?: string;
  client_id_issued_at?: number;
  /** 0: the secret does not expire. */
  client_secret_expires_at?: number;
  registration_access_token?: string;
  registration_client_uri?: string;
}

/** Options of {@link register}. */
export interface RegisterOptions extends SafeFetchOptions {
  /** RFC 7591 §3: the initial access token, when the server requires one (sent as Bearer). */
  initialAccessToken?: string;
}

/**
 * Register a client at the authorization server's `registration_endpoint`.
 *
 * @example
 * ```ts
 * const client = await register(metadata, {
 *   client_name: 'my CLI', redirect_uris: ['http://127.0.0.1/callback'],
 *   token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'],
 * });
 * client.client_id;
 * ```
 * @throws OAuthResponseError the server's error (`invalid_redirect_uri`, `invalid_client_metadata`,
 *   `invalid_token`, …), `missing_endpoint`, `invalid_response` and the bounded fetch's own.
 */
export async function register(target: AuthorizationServerMetadata | { registrationEndpoint: string }, metadata: ClientMetadata, options: RegisterOptions = {}): Promise<RegisteredClient> {
  const endpoint = 'registrationEndpoint' in target ? target.registrationEndpoint : (target as AuthorizationServerMetadata).registration_endpoint;
  if (typeof endpoint !== 'string' || endpoint === '') throw new OAuthResponseError('missing_endpoint', { message: 'the authorization server metadata has no registration_endpoint (RFC 7591): it does not offer registration' });
  checkFetchableUrl(endpoint, 'the registration endpoint');
  const body: ClientMetadata = { dpop_bound_access_tokens: true, ...metadata };
  const headers = new Headers({ 'content-type': 'application/json', accept: 'application/json' });
  if (options.initialAccessToken !== undefined) headers.set('authorization', `Bearer ${options.initialAccessToken}`);
  const response = await createSafeFetch(options)(endpoint, { method: 'POST', headers, body: JSON.stringify(body) });
  let json: unknown;
  try {
    json = await response.json();
  } catch (cause) {
    throw new OAuthResponseError('invalid_response', { response, message: `the registration endpoint answered HTTP ${response.status} without a JSON body`, cause });
  }
  const answer = (typeof json === 'object' && json !== null && !Array.isArray(json) ? json : {}) as Record<string, unknown>;
  if (!response.ok) {
    if (typeof answer.error === 'string') {
      throw new OAuthResponseError(answer.error, { response, ...(typeof answer.error_description === 'string' ? { error_description: answer.error_description } : {}) });
    }
    throw new OAuthResponseError('invalid_response', { response, message: `the registration endpoint answered HTTP ${response.status} with no OAuth error` });
  }
  // RFC 7591 §3.2.1: 201 Created with the client's id and metadata.
  if (typeof answer.client_id !== 'string' || answer.client_id === '') {
    throw new OAuthResponseError('invalid_response', { response, message: 'the registration response has no client_id' });
  }
  const method = answer.token_endpoint_auth_method ?? body.token_endpoint_auth_method ?? 'client_secret_basic';
  if ((method === 'client_secret_basic' || method === 'client_secret_post') && typeof answer.client_secret !== 'string') {
    throw new OAuthResponseError('invalid_response', { response, message: `the client was registered with ${String(method)} but the response has no client_secret` });
  }
  return answer as RegisteredClient;
}
