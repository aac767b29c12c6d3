/**
 * The pending authorization request, kept in sessionStorage across the trip to the
 * authorization server: `state` (RFC 6749 §10.12, CSRF) and the PKCE verifier (RFC 7636 §4.1).
 * sessionStorage is per tab and dies with it; the value is deleted as soon as it is read.
 *
 * @module
 */

const KEY = 'dpopkit-demo:pending-authorization';

export interface PendingAuthorization {
  state: string;
  codeVerifier: string;
  /** The issuer the request went to, checked against the callback's `iss` (RFC 9207). */
  issuer: string;
  /** Proofs sent while pushing the request (PAR, RFC 9126 + RFC 9449 §10.1), to show after the trip. */
  pushed?: PushedProof[];
}

/** A proof sent to the PAR endpoint, and the status it was answered with. */
export interface PushedProof {
  method: string;
  url: string;
  proof: string;
  status?: number;
  challenge?: string | null;
  nonce?: string | null;
}

/** Remember the request about to be sent. */
export function savePending(pending: PendingAuthorization): void {
  sessionStorage.setItem(KEY, JSON.stringify(pending));
}

/** Read and forget the pending request (one use: a replayed callback finds nothing). */
export function takePending(): PendingAuthorization | null {
  const text = sessionStorage.getItem(KEY);
  sessionStorage.removeItem(KEY);
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<PendingAuthorization>;
    if (typeof value.state === 'string' && typeof value.codeVerifier === 'string' && typeof value.issuer === 'string') {
      if (value.pushed !== undefined && !Array.isArray(value.pushed)) delete value.pushed;
      return value as PendingAuthorization;
    }
  } catch {
    // fall through: a corrupt entry is the same as none
  }
  return null;
}

