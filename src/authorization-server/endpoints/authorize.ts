/**
 * The authorization endpoint (RFC 6749 §4.1.1, RFC 9126 §4, RFC 9449 §10). A valid request
 * becomes an interaction (stored by the hash of its id) and the sign-in page; the interaction id
 * travels in an HttpOnly SameSite cookie and the CSRF token in the form. The cookie's name is
 * derived from the CSRF token, so sign-ins in several tabs do not overwrite each other, and a
 * form posted from elsewhere finds no cookie of that name in the victim's browser.
 *
 * @module
 */
import { redirectTo, resolveRedirectUri, UnsafeRedirectError, validateAuthorizationParams } from '../authorization-request.js';
import type { AsContext } from '../context.js';
import { keepResources } from '../resource-indicators.js';
import { describe, OAuthError } from '../errors.js';
import { parseParams, type FormParams } from '../form.js';
import { errorPage, loginPage } from '../login-page.js';
import { credentialHash, randomToken } from '../secrets.js';
import type { ClientRecord } from '../storage.js';
import type { AsRequest } from '../as-request.js';
import { AsResponse } from '../as-response.js';

const INTERACTION_COOKIE = 'dpopkit_interaction_';

/** The cookie that carries the interaction id of the sign-in whose form holds `csrf`. */
export function interactionCookieName(csrf: string): string {
  return INTERACTION_COOKIE + credentialHash(`cookie:${csrf}`).slice(0, 16);
}
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

/** `Set-Cookie` for the interaction id: HttpOnly, SameSite=Lax, only sent to the login endpoint. */
export function interactionCookie(ctx: AsContext, csrf: string, value: string, maxAge: number): string {
  const secure = ctx.issuer.startsWith('https:') ? '; Secure' : '';
  return `${interactionCookieName(csrf)}=${value}; Path=${ctx.basePath}/login; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`;
}

export async function authorizeEndpoint(ctx: AsContext, request: AsRequest): Promise<AsResponse> {
  let params: FormParams;
  try {
    const url = new URL(request.url);
    if (url.search.length > 16384) throw new OAuthError('invalid_request', 'request_too_long', 'the authorization request is too long');
    params = parseParams(url.searchParams);
  } catch (err) {
    return errorPage(400, 'invalid_request', err instanceof OAuthError ? err.message : 'malformed request');
  }
  const now = ctx.now();
  const clientId = params.get('client_id');
  if (clientId === undefined) return errorPage(400, 'invalid_request', 'the "client_id" parameter is missing');
  const client = await ctx.clients.get(clientId, now);
  if (!client) return errorPage(400, 'invalid_client', 'unknown client');

  const requestUri = params.get('request_uri');
  if (requestUri !== undefined) {
    // RFC 9126 §4: the pushed parameters are the request; a request_uri works once, for its
    // client only. The storage consumes it only for that client (one atomic statement), so
    // another client_id cannot use it up: its owner can still start the sign-in.
    const pushed = requestUri.startsWith(REQUEST_URI_PREFIX)
      ? await ctx.storage.consumePushedRequest(credentialHash(requestUri), now, client.clientId)
      : undefined;
    if (!pushed || pushed.clientId !== client.clientId) return errorPage(400, 'invalid_request_uri', 'the request_uri is invalid, expired, already used or not issued to this client');
    params = new Map(Object.entries(pushed.params));
  }

  let redirectUri: string;
  try {
    redirectUri = resolveRedirectUri(client, params.get('redirect_uri'));
  } catch (err) {
    return errorPage(400, (err as UnsafeRedirectError).error, (err as UnsafeRedirectError).message);
  }
  const state = params.get('state');
  let kept: Record<string, string>;
  try {
    // RFC 8707: `resource` is checked with the rest, and an invalid_target goes back by redirect.
    kept = requestUri !== undefined ? Object.fromEntries(params) : keepResources(ctx.resources, client, params, validateAuthorizationParams(client, params, redirectUri));
  } catch (err) {
    const oauth = err as OAuthError;
    // RFC 6749 §4.1.2.1 with RFC 9207 `iss`: errors go back to the (verified) redirect URI.
    const location = redirectTo(redirectUri, { error: oauth.error, error_description: describe(oauth), state, iss: ctx.issuer });
    return new AsResponse(null, 302, { Location: location, 'Cache-Control': 'no-store' });
  }
  return startInteraction(ctx, client, kept, now);
}

async function startInteraction(ctx: AsContext, client: ClientRecord, params: Record<string, string>, now: number): Promise<AsResponse> {
  const id = randomToken();
  const csrf = randomToken();
  await ctx.storage.saveInteraction({
    id: credentialHash(id),
    clientId: client.clientId,
    params,
    csrfHash: credentialHash(csrf),
    expiresAt: now + ctx.ttl.interaction,
  });
  return loginPage(
    { action: ctx.endpoints.login, csrf, clientName: client.clientName ?? client.clientId, scope: params.scope ?? '', hint: ctx.loginHint },
    200,
    { 'Set-Cookie': interactionCookie(ctx, csrf, id, ctx.ttl.interaction) },
  );
}
