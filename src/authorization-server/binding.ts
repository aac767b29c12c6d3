/**
 * Where tokens meet keys (RFC 9449 §5, §6, §10): the proof at the token and PAR endpoints and
 * the spending of its `jti`, the per-client "DPoP required" rule, `dpop_jkt` of codes and the
 * binding of refresh tokens.
 *
 * A proof is checked in two steps. `proofOf` runs every check of §4.3 (nonce included) but does
 * not spend the `jti`; `spendProof` spends it once the request can succeed: its client is
 * authenticated and its grant checked. So nobody can fill the replay cache with requests that
 * are refused anyway, a nonce challenge spends neither the proof nor a client assertion, and
 * each spend counts against a quota of its holder (see `replay-quota.ts`).
 *
 * @module
 */
import { spendProofJti, type VerifiedProof } from '../core/proof/verify.js';
import type { AsContext } from './context.js';
import { OAuthError } from './errors.js';
import { chargeEntry } from './replay-quota.js';
import type { ClientRecord, RefreshKeyCheck } from './storage.js';
import type { AsRequest } from './as-request.js';

/**
 * Check the `DPoP` header of a request to `endpointUrl`, if there is one (RFC 9449 §4.3 and,
 * when configured, the server's nonces, §8), without spending its `jti` (see `spendProof`).
 * The expected `htu` is the endpoint URL derived from the configured issuer, never the Host
 * header of the request.
 *
 * @returns the verified proof, or `undefined` when the request carries no `DPoP` header.
 * @throws DPoPError (`invalid_dpop_proof`, `use_dpop_nonce`, …), answered 400 by `errors.ts`.
 */
export async function proofOf(ctx: AsContext, request: AsRequest, endpointUrl: string): Promise<VerifiedProof | undefined> {
  const header = request.headers.get('dpop');
  if (header === null) return undefined;
  return ctx.verifier.verify(header, {
    method: request.method,
    url: endpointUrl,
    // Spent later, by spendProof, once the request is known to be able to succeed.
    replayCache: false,
    algs: ctx.dpop.algs,
    nonce: ctx.nonce,
    maxAge: ctx.dpop.maxAge,
    maxFuture: ctx.dpop.maxFuture,
    now: ctx.now(),
  });
}

/**
 * RFC 9449 §11.1: spend the proof's `jti` in the replay cache (atomically; a second use is
 * `replayed`), under the key scheme of the core verifier (`<jkt>:<jti>`). Call it after the
 * client is authenticated and the grant checked, and before anything is issued or used up.
 *
 * The entry is charged to its holder: a confidential client, or for a public client (whose
 * `client_id` anyone may send) the proof's key. A holder over its quota gets 429
 * `temporarily_unavailable` with `Retry-After`, and nobody else is affected.
 *
 * @throws DPoPError `replayed` (400), `replay_cache_full` / `replay_cache_unavailable` (503);
 *   OAuthError `replay_quota_exceeded` (429).
 */
export async function spendProof(ctx: AsContext, proof: VerifiedProof | undefined, client: ClientRecord): Promise<void> {
  if (!proof) return;
  const now = ctx.now();
  // The core verifier computed how long this proof could pass (its iat window or its nonce's life).
  const expiresAt = Math.max(proof.replayExpiresAt, now + 1);
  const isPublic = client.tokenEndpointAuthMethod === 'none';
  const holder = isPublic ? `key:${proof.jkt}` : `client:${client.clientId}`;
  const limit = isPublic ? ctx.replayQuota.perKey : ctx.replayQuota.perClient;
  // Not recorded (a replay, or a cache that failed closed): nothing is charged to the holder.
  await chargeEntry(ctx.replayQuota.counter, { holder, limit, whose: isPublic ? 'this DPoP key' : 'this client', expiresAt, now }, () => spendProofJti(ctx.replayCache, proof));
}

/** RFC 9449 §5.2 `dpop_bound_access_tokens`: such a client MUST send a proof with every token request. */
export function requireProofForClient(client: ClientRecord, proof: VerifiedProof | undefined): void {
  if (client.dpopBoundAccessTokens && !proof) {
    throw new OAuthError('invalid_dpop_proof', 'missing_proof', 'this client must send a DPoP proof with every token request (dpop_bound_access_tokens)');
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
  if (!proof) throw new OAuthError('invalid_grant', 'missing_proof', `the ${what} is bound to a DPoP key; a proof from that key is required`);
  if (proof.jkt !== expectedJkt) throw new OAuthError('invalid_grant', 'jkt_mismatch', `the DPoP proof's key is not the key the ${what} is bound to`);
}

/**
 * RFC 9449 §5: refresh tokens issued to public clients MUST be bound to the DPoP key; a
 * confidential client's refresh token is already bound to its credentials and stays unbound.
 */
export function refreshBinding(client: ClientRecord, proof: VerifiedProof | undefined): string | undefined {
  return client.tokenEndpointAuthMethod === 'none' ? proof?.jkt : undefined;
}

/**
 * What a refresh request brings to the rotation (checked and applied by the storage in one
 * transaction): the proof's key, and for a public client the instruction to bind a family that
 * is not bound yet, so once it issues a DPoP-bound token every later refresh needs that key.
 */
export function rotationKey(client: ClientRecord, proof: VerifiedProof | undefined): RefreshKeyCheck {
  const check: RefreshKeyCheck = { bind: client.tokenEndpointAuthMethod === 'none' };
  if (proof) check.jkt = proof.jkt;
  return check;
}

/** RFC 7638 thumbprint syntax (SHA-256, base64url): what `dpop_jkt` must look like. */
export const JKT_SYNTAX = /^[A-Za-z0-9_-]{43}$/;
