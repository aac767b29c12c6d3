/**
 * Password and client-secret hashing with scrypt (RFC 7914) from node:crypto.
 *
 * Hashes are self-describing strings `scrypt$N$r$p$salt$hash` (salt and hash base64url), so the
 * cost can be raised later without breaking stored hashes. Comparison is constant time.
 *
 * @module
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
const MAX_N = 1 << 20;

function scrypt(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize('NFC'), salt, keyLength, { ...options, maxmem: 256 * options.N! * options.r! + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Hash a password (or client secret) with scrypt and a random 16-byte salt.
 *
 * @returns `scrypt$16384$8$1$<salt>$<hash>`, the format `users[].passwordHash` expects.
 * @example
 * ```ts
 * const passwordHash = await hashPassword('correct horse battery staple');
 * ```
 */
export async function hashPassword(password: string): Promise<string> {
  if (typeof password !== 'string' || password.length === 0) throw new TypeError('hashPassword needs a non-empty string');
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEY_LENGTH, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Whether `hash` looks like a string made by {@link hashPassword}. */
export function isPasswordHash(hash: unknown): hash is string {
  return typeof hash === 'string' && parse(hash) !== undefined;
}

function parse(hash: string): { n: number; r: number; p: number; salt: Buffer; key: Buffer } | undefined {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![n, r, p].every((v) => Number.isInteger(v) && v > 0) || n > MAX_N || (n & (n - 1)) !== 0 || r > 32 || p > 16) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || key.length < 16) return undefined;
  return { n, r, p, salt, key };
}

/** A fixed hash to spend the same time on when the user is unknown (no user enumeration by timing). */
let dummy: Promise<string> | undefined;

/**
 * Check a password against a stored hash in constant time. An unusable or missing hash still
 * costs one scrypt run, so the answer time does not reveal whether a user exists.
 */
export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  const parsed = hash === undefined ? undefined : parse(hash);
  if (!parsed) {
    dummy ??= hashPassword('dpopkit-dummy-password');
    await verifyPassword(password, await dummy);
    return false;
  }
  const key = await scrypt(password, parsed.salt, parsed.key.length, { N: parsed.n, r: parsed.r, p: parsed.p });
  return timingSafeEqual(key, parsed.key);
}
