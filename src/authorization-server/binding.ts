/**
 * Where tokens meet keys (RFC 9449 §5, §6, §10): the proof at the token and PAR endpoints, the
 * per-client "DPoP required" rule, `dpop_jkt` of codes and the binding of refresh tokens.
 *
 * @module
 */
import { verifyProof, type VerifiedProof } from '../core/proof/verify.js';
import type { AsContext } from './context.js';
import { OAuthError } from './errors.js';
import type { ClientRecord } from './storage.js';

/**
 * Check the `DPoP` header of a request to `endpointUrl`, if there is one (RFC 9449 §4.3, with
 * the server's replay cache and, when configured, its nonces, §8). The expected `htu` is the
 * endpoint URL derived from the configured issuer, never the Host header of the request.
 *
 * @returns the verified proof, or `undefined` when the request carries no `DPoP` header.
 * @throws DPoPError (`invalid_dpop_proof`, `use_dpop_nonce`, …), answered 400 by `errors.ts`.
 */
export async function proofOf(ctx: AsContext, request: Request, endpointUrl: string): Promise<VerifiedProof | undefined> {
  const header = request.headers.get('dpop');
  if (header === null) return undefined;
  return verifyProof(header, {
    method: request.method,
    url: endpointUrl,
    replayCache: ctx.replayCache,
    algs: ctx.dpop.algs,
    nonce: ctx.nonce,
    maxAge: ctx.dpop.maxAge,
    maxFuture: ctx.dpop.maxFuture,
    now: ctx.now(),
  });
}

/** RFC 9449 §5.2 `dpop_bound_access_tokens`: such a client MUST send a proof with every token request. */
export function requireProofForClient(client: ClientRecord, proof: VerifiedProof | undefined): void {
  if (client.dpopBoundAccessTokens && !proof) {
    throw new OAuthError('invalid_dpop_proof', 'missing_proof: this client must send a DPoP proof with every token request (dpop_bound_access_tokens)');
  }
}

/**
 * A code bound with `dpop_jkt` (RFC 9449 §10) or a bound refresh token (§5) may only be
 * redeemed with a proof from that very key. The proof itself is valid, the grant is not usable
 * with it: `invalid_grant` (RFC 6749 §5.2), as node-oidc-provider answers; the description
 * leads with the stable reason.
 */
export function requireKey(expectedJkt: string | undefined, proof: VerifiedProof | undefined, what: string): void {
  if (expectedJkt === undefined) return;
  if (!proof) throw new OAuthError('invalid_grant', `missing_proof: the ${what} is bound to a DPoP key; a proof from that key is required`);
  if (proof.jkt !== expectedJkt) throw new OAuthError('invalid_grant', `jkt_mismatch: the DPoP proof's key is not the key the ${what} is bound to`);
}

/**
 * RFC 9449 §5: refresh tokens issued to public clients MUST be bound to the DPoP key; a
 * confidential client's refresh token is already bound to its credentials and stays unbound.
 */
export function refreshBinding(client: ClientRecord, proof: VerifiedProof | undefined): string | undefined {
  return client.tokenEndpointAuthMethod === 'none' ? proof?.jkt : undefined;
}

/** RFC 7638 thumbprint syntax (SHA-256, base64url): what `dpop_jkt` must look like. */
export const JKT_SYNTAX = /^[A-Za-z0-9_-]{43}$/;
