/**
 * Opaque credentials the server hands out (codes, refresh tokens, `request_uri`s, interaction
 * ids, CSRF tokens) and the SHA-256 under which storage keeps them (never the value itself).
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';

/**
 * Random bytes drawn from the CSPRNG 4 KiB at a time, each byte handed out once: one call into
 * OpenSSL per 128 access-token `jti`s instead of one per token (as `crypto.randomUUID` does).
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/** 256 random bits (or `bytes`), base64url (43 characters for 32 bytes). */
export function randomToken(bytes = 32): string {
  if (bytes > POOL_BYTES) return randomBytes(bytes).toString('base64url');
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const value = pool.toString('base64url', offset, offset + bytes);
  pool.fill(0, offset, offset + bytes); // handed out: nothing of it stays in memory
  offset += bytes;
  return value;
}

/** SHA-256 of a credential, base64url: the storage key of codes, refresh tokens and the like. */
export function credentialHash(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** RFC 7636 §4.2: `BASE64URL(SHA256(ASCII(code_verifier)))`. */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}
