/**
 * Token revocation (RFC 7009): access tokens by `jti` (kept until they would have expired),
 * refresh tokens with their whole family (RFC 7009 §2.1: revoking a refresh token may revoke
 * the grant). Unknown or already invalid tokens answer 200 too (§2.2).
 *
 * @module
 */
import { readAccessToken } from '../access-token.js';
import { authenticateClient } from '../client-auth.js';
import type { AsContext } from '../context.js';
import { errorResponse, OAuthError } from '../errors.js';
import { readForm, required } from '../form.js';
import { revokeGrantAccessTokens } from '../grants/grant-revocation.js';
import { credentialHash } from '../secrets.js';
import type { AsRequest } from '../as-request.js';
import { AsResponse } from '../as-response.js';

export async function revokeEndpoint(ctx: AsContext, request: AsRequest): Promise<AsResponse> {
  try {
    const params = await readForm(request);
    const { client } = await authenticateClient(ctx, request, params, [ctx.issuer, ctx.endpoints.revocation]);
    const token = required(params, 'token');
    const now = ctx.now();
    const claims = await readAccessToken(ctx.keys, ctx.issuer, token, now);
    if (claims) {
      // §2.1: the server checks that the token was issued to the client asking.
      if (claims.client_id !== client.clientId) throw new OAuthError('unauthorized_client', 'token_not_issued_to_client', 'the token was not issued to this client');
      if (claims.exp > now) await ctx.storage.revokeAccessToken(claims.jti, claims.exp);
    } else if (token.length <= 512) {
      const found = await ctx.storage.findRefreshToken(credentialHash(token));
      if (found) {
        if (found.family.clientId !== client.clientId) throw new OAuthError('unauthorized_client', 'token_not_issued_to_client', 'the token was not issued to this client');
        await ctx.storage.revokeRefreshFamily(found.family.familyId, now);
        // §2.1: the access tokens of the same grant go too.
        await revokeGrantAccessTokens(ctx, found.family.grantId, now);
      }
    }
    return new AsResponse(null, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  } catch (err) {
    return errorResponse(err, {}, ctx.log, 'revocation');
  }
}
