/**
 * Opaque credentials the server hands out (codes, refresh tokens, `request_uri`s, interaction
 * ids, CSRF tokens) and the SHA-256 under which storage keeps them (never the value itself).
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits, base64url (43 characters). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 of a credential, base64url: the storage key of codes, refresh tokens and the like. */
export function credentialHash(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** RFC 7636 §4.2: `BASE64URL(SHA256(ASCII(code_verifier)))`. */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}
