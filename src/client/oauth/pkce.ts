/**
 * PKCE (RFC 7636) with the S256 method only: `plain` gives no protection against a stolen code.
 *
 * @module
 */
import { backend } from '#crypto';

/** A PKCE pair: keep `codeVerifier` secret until the code exchange; send `codeChallenge` now. */
export interface Pkce {
  codeVerifier: string;
  codeChallenge: string;
  method: 'S256';
}

/**
 * Create a PKCE verifier (32 random bytes, 43 base64url characters: RFC 7636 §4.1) and its S256
 * challenge (§4.2).
 */
export async function createPkce(): Promise<Pkce> {
  const codeVerifier = backend.base64urlEncode(backend.randomBytes(32));
  const codeChallenge = backend.base64urlEncode(await backend.sha256(codeVerifier));
  return { codeVerifier, codeChallenge, method: 'S256' };
}

/** A random `state` value (RFC 6749 §10.12): 128 bits, base64url. */
export function randomState(): string {
  return backend.base64urlEncode(backend.randomBytes(16));
}
