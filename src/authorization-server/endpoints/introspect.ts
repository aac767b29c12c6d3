/**
 * Token introspection (RFC 7662), for the resource servers the configuration names: clients
 * with `introspection: true`, authenticated. A bound access token answers `token_type: "DPoP"`
 * and `cnf.jkt` (RFC 9449 §6.2), so the resource server can check the proof's key; anything
 * revoked, expired or unknown is `{ "active": false }` and nothing more (RFC 7662 §2.2).
 *
 * Who may ask (RFC 7662 §2.1, §4): the answer tells whose token it is, its scope and its key,
 * so a client that fails authentication gets 401 `invalid_client`, and an authenticated client
 * that is not allowed to introspect gets 403 `unauthorized_client` (reason
 * `introspection_not_allowed`) before the token is even read. Not `{ "active": false }`: that
 * would be a lie to a misconfigured resource server, which then refuses every token without
 * saying why.
 *
 * @module
 */
import { readAccessToken } from '../access-token.js';
import { authenticateClient } from '../client-auth.js';
import type { AsContext } from '../context.js';
import { errorResponse, jsonResponse, OAuthError } from '../errors.js';
import { readForm, required } from '../form.js';
import { grantMarker } from '../grants/grant-revocation.js';
import { credentialHash } from '../secrets.js';
import type { AsRequest } from '../as-request.js';
import type { AsResponse } from '../as-response.js';

const INACTIVE = { active: false };

export async function introspectEndpoint(ctx: AsContext, request: AsRequest): Promise<AsResponse> {
  try {
    const params = await readForm(request);
    const { client, method } = await authenticateClient(ctx, request, params, [ctx.issuer, ctx.endpoints.introspection]);
    // RFC 7662 §2.1: the endpoint MUST require authorization; a public client proves nothing.
    if (method === 'none') throw new OAuthError('invalid_client', 'client_auth_required', 'introspection requires client authentication', { status: 401 });
    // §4: only the resource servers configured for it learn anything about tokens.
    if (!ctx.introspectors.has(client.clientId)) {
      throw new OAuthError('unauthorized_client', 'introspection_not_allowed', 'this client may not use the introspection endpoint', { status: 403 });
    }
    const token = required(params, 'token');
    const now = ctx.now();
    const hint = params.get('token_type_hint');
    const order = hint === 'refresh_token' ? [refresh, access] : [access, refresh];
    for (const lookup of order) {
      const answer = await lookup(ctx, token, now);
      if (answer) return jsonResponse(answer);
    }
    return jsonResponse(INACTIVE);
  } catch (err) {
    return errorResponse(err, {}, ctx.log, 'introspection');
  }
}

async function access(ctx: AsContext, token: string, now: number): Promise<Record<string, unknown> | undefined> {
  const claims = await readAccessToken(ctx.keys, ctx.issuer, token, now);
  if (!claims) return undefined;
  if (claims.exp <= now || (await ctx.storage.isAccessTokenRevoked(claims.jti, now))) return INACTIVE;
  // The token's grant was revoked (code reuse, refresh-token reuse or revocation).
  if (typeof claims.gid === 'string' && (await ctx.storage.isAccessTokenRevoked(grantMarker(claims.gid), now))) return INACTIVE;
  const answer: Record<string, unknown> = {
    active: true,
    scope: claims.scope,
    client_id: claims.client_id,
    sub: claims.sub,
    exp: claims.exp,
    iat: claims.iat,
    iss: claims.iss,
    aud: claims.aud,
    jti: claims.jti,
    token_type: claims.cnf ? 'DPoP' : 'Bearer',
  };
  if (claims.cnf) answer.cnf = { jkt: claims.cnf.jkt };
  if (claims.auth_time !== undefined) answer.auth_time = claims.auth_time;
  if (claims.acr !== undefined) answer.acr = claims.acr;
  if (claims.amr !== undefined) answer.amr = claims.amr;
  return answer;
}

async function refresh(ctx: AsContext, token: string, now: number): Promise<Record<string, unknown> | undefined> {
  if (token.length > 512) return undefined;
  const found = await ctx.storage.findRefreshToken(credentialHash(token));
  if (!found) return undefined;
  const { family, rotated } = found;
  if (rotated || family.revokedAt !== undefined || family.expiresAt <= now) return INACTIVE;
  const answer: Record<string, unknown> = {
    active: true,
    scope: family.scope,
    client_id: family.clientId,
    sub: family.subject,
    exp: family.expiresAt,
    iat: family.createdAt,
    iss: ctx.issuer,
    token_type: 'refresh_token',
  };
  if (family.jkt) answer.cnf = { jkt: family.jkt };
  return answer;
}
