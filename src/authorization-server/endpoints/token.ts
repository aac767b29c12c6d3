/**
 * The token endpoint (RFC 6749 §3.2, §5; RFC 9449 §5): one proof check, one client
 * authentication, one grant, one signed access token. Every answer, success or error, carries
 * the next `DPoP-Nonce` when nonces are required (RFC 9449 §8).
 *
 * The order is what keeps the replay cache for real requests (RFC 9449 §11.1): the proof is
 * checked without spending its `jti` (a nonce challenge then costs no client assertion either),
 * then the client is authenticated, then everything that can refuse the request without using
 * anything up (grant type allowed, parameters, the code or refresh token and its binding), and
 * only then is the `jti` spent, before the code or refresh token is used up.
 *
 * @module
 */
import { proofOf, refreshBinding, requireProofForClient, spendProof } from '../binding.js';
import { authenticateClient } from '../client-auth.js';
import type { AsContext } from '../context.js';
import { issueAccessToken } from '../access-token.js';
import { signInExpiry, startAuthenticatedSession } from '../auth-session.js';
import { errorResponse, jsonResponse, OAuthError } from '../errors.js';
import { readForm } from '../form.js';
import { audienceClaim, directResources } from '../resource-indicators.js';
import { authorizationCodeGrant } from '../grants/authorization-code.js';
import { clientCredentialsGrant } from '../grants/client-credentials.js';
import { refreshTokenGrant } from '../grants/refresh-token.js';
import { grantReference } from '../grants/grant-revocation.js';
import type { GrantResult } from '../grants/types.js';
import { credentialHash, randomToken } from '../secrets.js';
import type { GrantType } from '../storage.js';
import type { AsRequest } from '../as-request.js';
import type { AsResponse } from '../as-response.js';

export const GRANT_TYPES: readonly GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials'];
const SUPPORTED = new Set<string>(GRANT_TYPES);

/** The `DPoP-Nonce` header every answer carries when nonces are required (RFC 9449 §8). */
export async function nonceHeaders(ctx: AsContext): Promise<Record<string, string>> {
  return ctx.nonce ? { 'DPoP-Nonce': await ctx.nonce.current(ctx.now()) } : {};
}

export async function tokenEndpoint(ctx: AsContext, request: AsRequest): Promise<AsResponse> {
  try {
    const params = await readForm(request);
    const grantType = params.get('grant_type');
    if (grantType === undefined) throw new OAuthError('invalid_request', 'missing_parameter', 'the "grant_type" parameter is missing');
    if (!SUPPORTED.has(grantType)) throw new OAuthError('unsupported_grant_type', 'unsupported_grant_type', `grant_type "${grantType.slice(0, 64)}" is not supported`);
    // The proof first, unspent: a nonce challenge must not spend a client assertion's jti.
    const proof = await proofOf(ctx, request, ctx.endpoints.token);
    const { client } = await authenticateClient(ctx, request, params, [ctx.issuer, ctx.endpoints.token]);
    if (!client.grantTypes.includes(grantType as GrantType)) {
      throw new OAuthError('unauthorized_client', 'grant_not_allowed', `this client may not use the ${grantType} grant`);
    }
    // A first-party client's code answers a missing proof with invalid_grant when it is bound
    // to a key (draft-ietf-oauth-first-party-apps §9.5.1): its grant checks the proof itself.
    if (grantType !== 'authorization_code' || !ctx.firstParty.has(client.clientId)) requireProofForClient(client, proof);
    // Each grant calls this once it has checked everything it can without using anything up.
    const spend = () => spendProof(ctx, proof, client);

    let grant: GrantResult;
    if (grantType === 'client_credentials') {
      grant = clientCredentialsGrant(client, params);
      // RFC 8707: the resources asked for, each allowed for this client, or the default.
      const resources = directResources(ctx.resources, client, params);
      grant.resources = { granted: resources, audience: resources };
      await spend();
    } else if (grantType === 'authorization_code') grant = await authorizationCodeGrant(ctx, client, params, proof, spend);
    else grant = await refreshTokenGrant(ctx, client, params, proof, spend);

    const now = ctx.now();
    const { token } = await issueAccessToken(ctx.keys, {
      issuer: ctx.issuer,
      subject: grant.subject,
      // RFC 8707: the token is for exactly the resources granted (or the configured audience).
      audience: grant.resources ? audienceClaim(grant.resources.audience) : ctx.audience,
      clientId: client.clientId,
      scope: grant.scope,
      jkt: proof?.jkt,
      ttl: ctx.ttl.accessToken,
      now,
      authTime: grant.authTime,
      acr: grant.acr,
      amr: grant.amr,
      grantReference: grant.grantId === undefined ? undefined : grantReference(grant.grantId),
      offThread: ctx.dpop.threadpool,
    });
    // RFC 9449 §5: token_type DPoP tells the client the token is bound (and must be sent with proofs).
    const body: Record<string, unknown> = {
      access_token: token,
      token_type: proof ? 'DPoP' : 'Bearer',
      expires_in: ctx.ttl.accessToken,
    };
    if (grant.scope) body.scope = grant.scope;
    if (grant.refreshToken !== undefined) body.refresh_token = grant.refreshToken;
    if (grant.startFamily && client.grantTypes.includes('refresh_token')) {
      const refreshToken = randomToken();
      await ctx.storage.createRefreshFamily({
        familyId: randomToken(16),
        clientId: client.clientId,
        subject: grant.subject,
        scope: grant.scope,
        jkt: refreshBinding(client, proof),
        grantId: grant.startFamily.grantId,
        ...(grant.resources ? { resources: grant.resources.granted } : {}),
        ...(grant.acr !== undefined ? { acr: grant.acr } : {}),
        ...(grant.amr !== undefined ? { amr: grant.amr } : {}),
        authTime: grant.authTime ?? now,
        createdAt: now,
        // A first-party code may restore its sign-in without credentials (a step-up that asks
        // for nothing more): its tokens end with the sign-in, not a lifetime after the re-use.
        expiresAt: grant.challenge ? signInExpiry(ctx, grant.authTime ?? now, now) : now + ctx.ttl.refreshToken,
      }, credentialHash(refreshToken));
      body.refresh_token = refreshToken;
    }
    if (grant.challenge && proof) {
      // draft-ietf-oauth-first-party-apps §6.1: an auth_session for a later step-up (RFC 9470),
      // bound to what this grant holds (scope and resources).
      const authSession = await startAuthenticatedSession(ctx, { clientId: client.clientId, jkt: proof.jkt, subject: grant.subject, scope: grant.scope, amr: grant.amr ?? ['pwd'], authTime: grant.authTime ?? now, resources: grant.resources?.granted });
      if (authSession !== undefined) body.auth_session = authSession;
    }
    return jsonResponse(body, 200, await nonceHeaders(ctx));
  } catch (err) {
    return errorResponse(err, await nonceHeaders(ctx), ctx.log, 'token');
  }
}
