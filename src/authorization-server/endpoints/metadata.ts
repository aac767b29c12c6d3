/**
 * Authorization server metadata (RFC 8414 §2), also served as an OpenID-configuration-shaped
 * document: every endpoint, and exactly the grants, methods and algorithms this server supports.
 *
 * @module
 */
import { ASSERTION_ALGS } from '../client-auth.js';
import type { AsContext } from '../context.js';
import { challengeMetadata } from './authorize-challenge.js';
import { GRANT_TYPES } from './token.js';
import { AsResponse } from '../as-response.js';

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'];

export function metadata(ctx: AsContext): Record<string, unknown> {
  const e = ctx.endpoints;
  return {
    issuer: ctx.issuer,
    authorization_endpoint: e.authorization,
    token_endpoint: e.token,
    pushed_authorization_request_endpoint: e.par,
    introspection_endpoint: e.introspection,
    revocation_endpoint: e.revocation,
    jwks_uri: e.jwks,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: [...GRANT_TYPES],
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    introspection_endpoint_auth_methods_supported: AUTH_METHODS.filter((m) => m !== 'none'),
    introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    revocation_endpoint_auth_methods_supported: AUTH_METHODS,
    revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    code_challenge_methods_supported: ['S256'],
    // RFC 9449 §5.1
    dpop_signing_alg_values_supported: [...ctx.dpop.algs],
    // RFC 9207
    authorization_response_iss_parameter_supported: true,
    require_pushed_authorization_requests: false,
    request_parameter_supported: false,
    scopes_supported: [...ctx.scopes],
    // RFC 7591 §3: where clients register themselves (when registration is on)
    ...(ctx.registration ? { registration_endpoint: e.registration } : {}),
    // RFC 9728 §4: the protected resources this server issues tokens for (RFC 8707)
    ...(ctx.resources.configured.length > 0 ? { protected_resources: [...ctx.resources.configured] } : {}),
    // draft-emelia-oauth-as-metadata-dpop-required: every token is DPoP-bound, every token request needs a proof
    ...(ctx.dpopRequired ? { dpop_bound_access_tokens_required: true } : {}),
    // draft-ietf-oauth-first-party-apps §8, and the acr values it issues (RFC 9470)
    ...challengeMetadata(ctx),
  };
}

/** `GET` of a metadata document: public and cacheable for a short time. */
export function metadataResponse(ctx: AsContext): AsResponse {
  return new AsResponse(JSON.stringify(metadata(ctx)), 200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' });
}
