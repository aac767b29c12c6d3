/**
 * First-party sign-in without a browser (draft-ietf-oauth-first-party-apps-04): the app asks
 * its user for what the authorization server says it needs next, step by step, at the
 * authorization challenge endpoint, with a DPoP proof on every request (§9.5.1), then redeems
 * the code for DPoP-bound tokens. dpopkit's server asks for `password` and then, for accounts
 * with one, `otp` (the `next` member of `insufficient_authorization`).
 *
 * The `auth_session` (§5.3.1) is kept and replaced whenever an answer carries a new one, and
 * returned with the tokens: pass it back for a step-up (RFC 9470), which {@link stepUp} does in
 * one call from a resource server's `insufficient_user_authentication` answer.
 *
 * @module
 */
import { invalidArgument } from '../core/argument-error.js';
import { parseChallenges } from '../core/challenge.js';
import type { DPoPClient } from './dpop-client.js';
import { OAuthResponseError } from './oauth/errors.js';
import { createPkce } from './oauth/pkce.js';
import { appendResource, type ResourceIndicator } from './oauth/resource-indicator.js';
import { applyClientAuth, errorFrom, postForm, readJsonObject, tokenRequest, type TokenRequestOptions } from './oauth/token-request.js';
import type { AuthorizationServerMetadata, ClientAuth, TokenResponse } from './oauth/types.js';

/** What a callback is told when the server asks for a credential. */
export interface SignInPrompt {
  /** The username of the sign-in, when known to the client. */
  username: string | undefined;
  /** 1 the first time this step is asked, 2 after one wrong answer, … */
  attempt: number;
  /** The server's `error_description` when the previous answer was wrong ("Wrong one-time code."). */
  error: string | undefined;
}

type Ask = (prompt: SignInPrompt) => string | Promise<string>;

/** Parameters of {@link signIn}: the {@link TokenRequestOptions} (a confidential first-party client authenticates at both endpoints, draft §4.1) and the sign-in's own. */
export interface SignInOptions extends TokenRequestOptions {
  scope?: string;
  /** The user to sign in (required unless `authSession` names one). */
  username?: string;
  /** Asked when the server wants the password. */
  onPassword: Ask;
  /** Asked when the server wants a one-time code (RFC 6238 TOTP). */
  onOtp?: Ask;
  /** RFC 9470 / OpenID `acr_values`: the authentication levels wanted, in order of preference. */
  acrValues?: string | readonly string[];
  /** RFC 9470 / OpenID `max_age`: the sign-in may be at most this many seconds old. */
  maxAge?: number;
  /**
   * RFC 8707: the API(s) the tokens are for (`resource`, sent with the first request; the
   * access token's `aud`). With `authSession` (a step-up), the same as the earlier sign-in's, or
   * none: the server refuses another set with `invalid_target`.
   */
  resource?: ResourceIndicator;
  /** The `auth_session` of an earlier sign-in (from its token response), for a step-up. */
  authSession?: string;
  /**
   * Send a PKCE challenge (RFC 7636, S256) with the first request. Default `true`: the code is
   * then useless without the verifier, and a `redirect_to_web` answer can carry a `request_uri`
   * (draft §5.2.2.1.1 forbids one without PKCE).
   */
  pkce?: boolean;
  /** A registered redirect URI for the browser fallback (sent as `redirect_uri`); default: the client's only one. */
  redirectUri?: string;
  /** Requests to make at most before giving up (default 10). */
  maxSteps?: number;
}

/** The server wants the sign-in finished in a browser (draft §5.2.2.1.1). */
export interface RedirectToWeb {
  /**
   * The URL to open: the authorization endpoint with `client_id` and the `request_uri` the
   * server pushed. `undefined` when it gave none: start an ordinary code flow (with PKCE).
   */
  url: URL | undefined;
  requestUri: string | undefined;
  /** Seconds the `request_uri` lives. */
  expiresIn: number | undefined;
  /** The PKCE verifier of the pushed request: redeem the browser's code with it (`exchangeCode`). */
  codeVerifier: string | undefined;
  /** The server's `error_description`, if any. */
  description: string | undefined;
}

/** The outcome of {@link signIn}: tokens, or the browser fallback. */
export type SignInResult =
  | { tokens: TokenResponse; authSession: string | undefined; redirectToWeb?: undefined }
  | { redirectToWeb: RedirectToWeb; authSession: string | undefined; tokens?: undefined };

function challengeEndpoint(metadata: AuthorizationServerMetadata): string {
  const value = metadata.authorization_challenge_endpoint;
  if (typeof value !== 'string' || value === '') {
    throw new OAuthResponseError('missing_endpoint', { message: 'the authorization server metadata has no authorization_challenge_endpoint (draft-ietf-oauth-first-party-apps §8)' });
  }
  return value;
}

function listOf(values: string | readonly string[] | undefined): string | undefined {
  if (values === undefined) return undefined;
  const list = typeof values === 'string' ? [values] : [...values];
  return list.length > 0 ? list.join(' ') : undefined;
}

/**
 * Sign a user in at the authorization challenge endpoint and redeem the code.
 *
 * @example
 * ```ts
 * const client = createDPoPClient({ keyStore });
 * const metadata = await discover('https://as.example');
 * const result = await signIn(client, metadata, {
 *   clientId: 'my-app', scope: 'api:read', username: 'alice',
 *   onPassword: () => prompt('Password'), onOtp: () => prompt('Code from your app'),
 * });
 * if (result.redirectToWeb) openBrowser(result.redirectToWeb.url);
 * else save(result.tokens, result.authSession);
 * ```
 * @throws OAuthResponseError the server's refusal (`invalid_session`, `access_denied`,
 *   `invalid_target` for a resource it refuses, `temporarily_unavailable` with status 429, …),
 *   `unsupported_challenge` (a step this client cannot answer), `too_many_steps`,
 *   `missing_endpoint`, `network_error`, `invalid_response`, `token_type_mismatch`.
 */
export async function signIn(client: DPoPClient, metadata: AuthorizationServerMetadata, options: SignInOptions): Promise<SignInResult> {
  const endpoint = challengeEndpoint(metadata);
  if (options.username === undefined && options.authSession === undefined) throw invalidArgument('signIn needs a username (or the authSession of an earlier sign-in)');
  const auth: ClientAuth = { clientId: options.clientId, ...(options.clientSecret !== undefined ? { clientSecret: options.clientSecret } : {}), ...(options.authMethod !== undefined ? { authMethod: options.authMethod } : {}) };
  const pkce = options.pkce === false ? undefined : await createPkce();
  let authSession = options.authSession;

  // The first request: the authorization request and what the client already knows.
  let params = new URLSearchParams({ response_type: 'code' });
  if (options.scope !== undefined) params.set('scope', options.scope);
  if (options.username !== undefined) params.set('username', options.username);
  if (authSession !== undefined) params.set('auth_session', authSession);
  const acrValues = listOf(options.acrValues);
  if (acrValues !== undefined) params.set('acr_values', acrValues);
  if (options.maxAge !== undefined) params.set('max_age', String(options.maxAge));
  appendResource(params, options.resource);
  if (options.redirectUri !== undefined) params.set('redirect_uri', options.redirectUri);
  if (pkce) {
    params.set('code_challenge', pkce.codeChallenge);
    params.set('code_challenge_method', 'S256');
  }

  const asked = new Map<string, number>();
  const maxSteps = options.maxSteps ?? 10;
  for (let step = 0; step < maxSteps; step++) {
    const headers = new Headers();
    const body = new URLSearchParams(params);
    applyClientAuth(auth, headers, body);
    // Through the DPoP client: a fresh proof (htu = the endpoint) and the nonce retry (RFC 9449 §8).
    const response = await postForm(client, endpoint, body, headers);
    if (response.ok) {
      const json = await readJsonObject(response, 'the authorization challenge endpoint');
      if (typeof json.authorization_code !== 'string' || json.authorization_code === '') {
        throw new OAuthResponseError('invalid_response', { response, message: 'the authorization challenge endpoint answered 200 without an authorization_code' });
      }
      // §6: the code is redeemed like any other, without redirect_uri, with the same key.
      const grant = new URLSearchParams({ grant_type: 'authorization_code', code: json.authorization_code });
      if (pkce) grant.set('code_verifier', pkce.codeVerifier);
      const tokens = await tokenRequest(client, metadata, grant, options);
      // §5.3.1, §6.1: a new auth_session replaces the one kept.
      if (typeof tokens.auth_session === 'string' && tokens.auth_session !== '') authSession = tokens.auth_session;
      return { tokens, authSession };
    }
    const error = await errorFrom(response.clone(), 'the authorization challenge endpoint');
    let json: Record<string, unknown> = {};
    try {
      json = await readJsonObject(response, 'the authorization challenge endpoint');
    } catch {
      throw error;
    }
    if (typeof json.auth_session === 'string' && json.auth_session !== '') authSession = json.auth_session;
    const description = typeof json.error_description === 'string' ? json.error_description : undefined;

    if (error.error === 'redirect_to_web') {
      const requestUri = typeof json.request_uri === 'string' ? json.request_uri : undefined;
      let url: URL | undefined;
      if (requestUri !== undefined && typeof metadata.authorization_endpoint === 'string') {
        url = new URL(metadata.authorization_endpoint);
        url.searchParams.set('client_id', options.clientId);
        url.searchParams.set('request_uri', requestUri);
      }
      return {
        redirectToWeb: {
          url,
          requestUri,
          expiresIn: typeof json.expires_in === 'number' ? json.expires_in : undefined,
          codeVerifier: requestUri !== undefined ? pkce?.codeVerifier : undefined,
          description,
        },
        authSession,
      };
    }
    if (error.error !== 'insufficient_authorization') throw error;
    if (authSession === undefined) throw new OAuthResponseError('invalid_response', { response, message: 'insufficient_authorization without an auth_session' });

    const next = typeof json.next === 'string' ? json.next : undefined;
    const ask = next === 'password' ? options.onPassword : next === 'otp' ? options.onOtp : undefined;
    if (!ask) {
      throw new OAuthResponseError('unsupported_challenge', { response, message: `the server asks for ${next === undefined ? 'something this client cannot tell' : JSON.stringify(next)}, which this sign-in cannot provide` });
    }
    const attempt = (asked.get(next!) ?? 0) + 1;
    asked.set(next!, attempt);
    const value = await ask({ username: options.username, attempt, error: attempt > 1 ? description : undefined });
    params = new URLSearchParams({ auth_session: authSession, [next!]: value });
  }
  throw new OAuthResponseError('too_many_steps', { message: `the sign-in did not finish in ${maxSteps} requests` });
}

/** RFC 9470 §3: what a resource server's `insufficient_user_authentication` challenge asks for. */
export interface StepUpChallenge {
  acrValues: string[] | undefined;
  maxAge: number | undefined;
  scope: string | undefined;
}

/**
 * Read an RFC 9470 step-up challenge from a resource server's answer (`WWW-Authenticate` with
 * `error="insufficient_user_authentication"`, any scheme), or `undefined` when it is not one.
 */
export function stepUpChallenge(response: Response | Headers | string | null | undefined): StepUpChallenge | undefined {
  const header = typeof response === 'string' || response == null ? response : 'headers' in response ? response.headers.get('www-authenticate') : response.get('www-authenticate');
  const challenge = parseChallenges(header ?? null).find((c) => c.params.error === 'insufficient_user_authentication');
  if (!challenge) return undefined;
  const { acr_values: acr, max_age: maxAge, scope } = challenge.params;
  const age = maxAge !== undefined && /^[0-9]+$/.test(maxAge) ? Number(maxAge) : undefined;
  return { acrValues: acr ? acr.split(' ').filter(Boolean) : undefined, maxAge: age, scope: scope || undefined };
}

/**
 * RFC 9470 step-up in one call: read the resource server's `insufficient_user_authentication`
 * answer and sign in again with its `acr_values` and `max_age`, presenting the `auth_session` of
 * the earlier sign-in so the server asks only for what is missing (draft A.7).
 *
 * @throws OAuthResponseError `invalid_response` when `response` is not a step-up challenge; otherwise as {@link signIn}.
 */
export async function stepUp(client: DPoPClient, metadata: AuthorizationServerMetadata, response: Response | Headers | string, options: SignInOptions): Promise<SignInResult> {
  const challenge = stepUpChallenge(response);
  if (!challenge) throw new OAuthResponseError('invalid_response', { message: 'the answer is not an RFC 9470 insufficient_user_authentication challenge' });
  return signIn(client, metadata, {
    ...options,
    ...(challenge.acrValues !== undefined ? { acrValues: challenge.acrValues } : {}),
    ...(challenge.maxAge !== undefined ? { maxAge: challenge.maxAge } : {}),
  });
}
