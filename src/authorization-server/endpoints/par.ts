/**
 * Pushed authorization requests (RFC 9126 §2): the client posts the authorization request,
 * authenticated, and gets a single-use, short-lived `request_uri`. A `DPoP` header binds the
 * future code to its key (RFC 9449 §10.1), like `dpop_jkt`; when both are sent they must agree.
 *
 * The proof is checked first without spending its `jti`, and spent only once the client is
 * authenticated and the request is valid (see `binding.ts`). A public client's proof is not
 * spent at all: its client is not authenticated, so spending would let anyone fill the replay
 * cache, and a replay gains nothing here: the proof only names the key the code will be bound
 * to, which `dpop_jkt` does with no proof at all, and the code stays redeemable only with that
 * key and the request's PKCE verifier.
 *
 * @module
 */
import { resolveRedirectUri, validateAuthorizationParams } from '../authorization-request.js';
import { proofOf, spendProof } from '../binding.js';
import { authenticateClient } from '../client-auth.js';
import type { AsContext } from '../context.js';
import { keepResources } from '../resource-indicators.js';
import { errorResponse, jsonResponse, OAuthError } from '../errors.js';
import { readForm } from '../form.js';
import { credentialHash, randomToken } from '../secrets.js';
import { REQUEST_URI_PREFIX } from './authorize.js';
import { nonceHeaders } from './token.js';
import type { AsRequest } from '../as-request.js';
import type { AsResponse } from '../as-response.js';

export async function parEndpoint(ctx: AsContext, request: AsRequest): Promise<AsResponse> {
  try {
    const params = await readForm(request);
    // RFC 9126 §2.1: request_uri MUST NOT be provided here.
    if (params.has('request_uri')) throw new OAuthError('invalid_request', 'request_uri_not_allowed', 'request_uri is not allowed in a pushed authorization request');
    if (params.has('request')) throw new OAuthError('invalid_request', 'request_object_not_supported', 'request objects (JAR) are not supported');
    // RFC 9449 §10.1: the proof's htm is POST and its htu the PAR endpoint (checked, not spent yet).
    const proof = await proofOf(ctx, request, ctx.endpoints.par);
    const { client } = await authenticateClient(ctx, request, params, [ctx.issuer, ctx.endpoints.par, ctx.endpoints.token]);
    const redirectUri = resolveRedirectUri(client, params.get('redirect_uri'));
    const kept = keepResources(ctx.resources, client, params, validateAuthorizationParams(client, params, redirectUri));
    if (proof) {
      if (kept.dpop_jkt !== undefined && kept.dpop_jkt !== proof.jkt) {
        // A request whose two parameters contradict each other (node-oidc-provider: invalid_request).
        throw new OAuthError('invalid_request', 'jkt_mismatch', 'dpop_jkt does not match the key of the DPoP proof (RFC 9449 §10.1)');
      }
      kept.dpop_jkt = proof.jkt;
      if (client.tokenEndpointAuthMethod !== 'none') await spendProof(ctx, proof, client);
    }
    const requestUri = `${REQUEST_URI_PREFIX}${randomToken()}`;
    const now = ctx.now();
    await ctx.storage.savePushedRequest({ id: credentialHash(requestUri), clientId: client.clientId, params: kept, expiresAt: now + ctx.ttl.par });
    return jsonResponse({ request_uri: requestUri, expires_in: ctx.ttl.par }, 201, await nonceHeaders(ctx));
  } catch (err) {
    return errorResponse(err, await nonceHeaders(ctx), ctx.log, 'par');
  }
}
