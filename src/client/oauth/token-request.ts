/**
 * One token-endpoint round trip (RFC 6749 §3.2, §5), shared by every grant: client
 * authentication, a DPoP proof (through the client, so nonces are handled, §8), and the checks a
 * client owes the answer, `token_type` first (RFC 9449 §5).
 *
 * @module
 */
import { invalidArgument } from '../../core/argument-error.js';
import type { DPoPClient } from '../dpop-client.js';
import { OAuthResponseError } from './errors.js';
import type { AuthorizationServerMetadata, ClientAuth, TokenEndpointTarget, TokenResponse } from './types.js';

/**
 * The options every token helper takes (`exchangeCode`, `clientCredentials`, `refresh`), one
 * object per call: the client's identity and authentication (the {@link ClientAuth} part), and
 * how the answer is checked. Each helper adds its grant's own parameters.
 */
export interface TokenRequestOptions extends ClientAuth {
  /**
   * Accept `token_type: Bearer` although a proof was sent. Default `false`: RFC 9449 §5 says a
   * client that sent a proof MUST check the type, and a server that silently issued a Bearer
   * token has made the token stealable again.
   */
  allowBearer?: boolean;
  /** Clock in epoch seconds, for `expires_at` (default: `Date.now() / 1000`). */
  clock?: () => number;
}

/** `application/x-www-form-urlencoded` encoding of one value (RFC 6749 Appendix B). */
function formEncode(value: string): string {
  return new URLSearchParams([['v', value]]).toString().slice(2);
}

/** Add client authentication (RFC 6749 §2.3.1) to a request's headers and body. */
export function applyClientAuth(auth: ClientAuth, headers: Headers, body: URLSearchParams): void {
  const method = auth.authMethod ?? (auth.clientSecret !== undefined ? 'client_secret_basic' : 'none');
  if (method === 'client_secret_basic') {
    if (auth.clientSecret === undefined) throw invalidArgument('client_secret_basic needs clientSecret');
    // §2.3.1: both parts are form-encoded before the Basic encoding; the result is ASCII.
    headers.set('authorization', `Basic ${btoa(`${formEncode(auth.clientId)}:${formEncode(auth.clientSecret)}`)}`);
  } else if (method === 'client_secret_post') {
    if (auth.clientSecret === undefined) throw invalidArgument('client_secret_post needs clientSecret');
    body.set('client_id', auth.clientId);
    body.set('client_secret', auth.clientSecret);
  } else {
    // A public client identifies itself in the body (RFC 6749 §3.2.1).
    body.set('client_id', auth.clientId);
  }
}

/** The token endpoint of `target`, or an `OAuthResponseError('missing_endpoint')`. */
export function tokenEndpointOf(target: TokenEndpointTarget): string {
  const endpoint = 'tokenEndpoint' in target ? target.tokenEndpoint : (target as AuthorizationServerMetadata).token_endpoint;
  if (typeof endpoint !== 'string' || endpoint === '') throw new OAuthResponseError('missing_endpoint', { message: 'the authorization server metadata has no token_endpoint' });
  return endpoint;
}

/** POST a form to an endpoint with a DPoP proof; network failures become `OAuthResponseError('network_error')`. */
export async function postForm(client: DPoPClient, endpoint: string, body: URLSearchParams, headers: Headers): Promise<Response> {
  headers.set('content-type', 'application/x-www-form-urlencoded');
  headers.set('accept', 'application/json');
  try {
    // A string body can be sent twice, so the client's single nonce retry applies (§8).
    return await client.fetch(endpoint, { method: 'POST', headers, body: body.toString() });
  } catch (cause) {
    throw new OAuthResponseError('network_error', { message: `cannot reach ${endpoint}: ${(cause as Error)?.message ?? String(cause)}`, cause });
  }
}

/** Read a JSON object body, or throw `invalid_response` (or the server's error, when it sent one). */
export async function readJsonObject(response: Response, what: string): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw new OAuthResponseError('invalid_response', { response, message: `${what} answered HTTP ${response.status} without a JSON body`, cause });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OAuthResponseError('invalid_response', { response, message: `${what} answered HTTP ${response.status} with JSON that is not an object` });
  }
  return body as Record<string, unknown>;
}

/** Turn an error answer (RFC 6749 §5.2) into an `OAuthResponseError`. */
export async function errorFrom(response: Response, what: string): Promise<OAuthResponseError> {
  try {
    const body = await readJsonObject(response, what);
    if (typeof body.error === 'string') {
      return new OAuthResponseError(body.error, {
        response,
        ...(typeof body.error_description === 'string' ? { error_description: body.error_description } : {}),
      });
    }
  } catch (err) {
    if (err instanceof OAuthResponseError) return err;
  }
  return new OAuthResponseError('invalid_response', { response, message: `${what} answered HTTP ${response.status} with no OAuth error` });
}

/**
 * Send a token request and check the answer: a JSON object with a string `access_token`, and
 * `token_type` `DPoP` (compared case-insensitively, RFC 6749 §5.1 / RFC 9449 §5).
 */
export async function tokenRequest(
  client: DPoPClient,
  target: TokenEndpointTarget,
  body: URLSearchParams,
  options: TokenRequestOptions,
): Promise<TokenResponse> {
  const endpoint = tokenEndpointOf(target);
  const headers = new Headers();
  applyClientAuth(options, headers, body);
  const response = await postForm(client, endpoint, body, headers);
  if (!response.ok) throw await errorFrom(response, 'the token endpoint');
  const json = await readJsonObject(response, 'the token endpoint');
  if (typeof json.access_token !== 'string' || json.access_token === '') {
    throw new OAuthResponseError('invalid_response', { response, message: 'the token response has no access_token' });
  }
  if (typeof json.token_type !== 'string') {
    throw new OAuthResponseError('invalid_response', { response, message: 'the token response has no token_type' });
  }
  const type = json.token_type.toLowerCase();
  // RFC 9449 §5: "a client that sent a proof MUST check token_type" — refuse a Bearer downgrade.
  if (type !== 'dpop' && !(type === 'bearer' && options.allowBearer)) {
    throw new OAuthResponseError('token_type_mismatch', { response, message: `a DPoP proof was sent but the token_type is ${JSON.stringify(json.token_type)}, not DPoP` });
  }
  const token = json as TokenResponse;
  if (json.expires_in !== undefined) {
    const expiresIn = Number(json.expires_in);
    if (!Number.isFinite(expiresIn) || expiresIn < 0) throw new OAuthResponseError('invalid_response', { response, message: 'expires_in is not a non-negative number' });
    token.expires_at = Math.floor((options.clock?.() ?? Date.now() / 1000) + expiresIn);
  }
  return token;
}
