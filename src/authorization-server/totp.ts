/**
 * One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), and the base32 secrets (RFC 4648 §6)
 * authenticator apps exchange in `otpauth://` URIs.
 *
 * The server's policy is RFC 6238's default profile: HMAC-SHA-1, 6 digits, 30-second steps from
 * the Unix epoch, and codes of the previous, current and next step accepted (§5.2: "at most one
 * time step" of network delay and clock drift). That a code is never accepted twice (§5.2) is
 * not decided here but by the storage, which remembers each user's last accepted step
 * (`Storage.acceptTotpStep`): {@link matchTotp} only says which step a code belongs to.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { invalidArgument } from '../core/argument-error.js';

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpOptions {
  /** HMAC hash (default `SHA1`, RFC 6238 §1.2; SHA-256 and SHA-512 are its options). */
  algorithm?: TotpAlgorithm;
  /** Code length, 6 to 8 (default 6, RFC 4226 §5.3). */
  digits?: number;
  /** Seconds per step, X in RFC 6238 §4.1 (default 30). */
  period?: number;
}

/** RFC 6238 §5.2: accept this many steps before and after the current one. */
export const TOTP_WINDOW = 1;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * Decode a base32 secret (RFC 4648 §6). Case, spaces and `=` padding are ignored, as
 * authenticator apps print secrets in groups.
 *
 * @throws TypeError on any other character.
 */
export function decodeBase32(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index === -1) throw invalidArgument('a TOTP secret must be base32 (A–Z and 2–7, RFC 4648 §6)');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** Encode bytes as base32 without padding (what `otpauth://` URIs carry). */
export function encodeBase32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(value >>> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function settings(options: TotpOptions): Required<TotpOptions> {
  const digits = options.digits ?? 6;
  const period = options.period ?? 30;
  if (!Number.isInteger(digits) || digits < 6 || digits > 8) throw invalidArgument('TOTP digits must be 6, 7 or 8');
  if (!Number.isInteger(period) || period < 1) throw invalidArgument('TOTP period must be a positive integer (seconds)');
  return { algorithm: options.algorithm ?? 'SHA1', digits, period };
}

/** RFC 4226 §5.3: HOTP(K, C) = Truncate(HMAC(K, C)) mod 10^digits, zero-padded. */
export function hotp(secret: Uint8Array, counter: number, options: TotpOptions = {}): string {
  const { algorithm, digits } = settings(options);
  const message = Buffer.alloc(8);
  // The counter is an 8-byte big-endian integer (§5.1); steps stay far below 2^53.
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm.toLowerCase(), secret).update(message).digest();
  // §5.3 dynamic truncation: the low 4 bits of the last byte pick 4 bytes, top bit dropped.
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 §4.2: the time step T = floor((time - T0) / X) with T0 = 0. */
export function totpStep(epochSeconds: number, options: TotpOptions = {}): number {
  return Math.floor(epochSeconds / settings(options).period);
}

/** The TOTP code at `epochSeconds` (RFC 6238 §4.2). */
export function totp(secret: Uint8Array, epochSeconds: number, options: TotpOptions = {}): string {
  return hotp(secret, totpStep(epochSeconds, options), options);
}

/**
 * The time step whose code `code` is, among the current one and {@link TOTP_WINDOW} steps on
 * either side (RFC 6238 §5.2), or `undefined`. Every candidate is computed and compared in
 * constant time, so the answer time says nothing about which step (or digit) matched.
 */
export function matchTotp(secret: Uint8Array, code: string, epochSeconds: number, options: TotpOptions = {}): number | undefined {
  const { digits } = settings(options);
  if (code.length !== digits || !/^[0-9]+$/.test(code)) return undefined;
  const given = Buffer.from(code);
  const current = totpStep(epochSeconds, options);
  let matched: number | undefined;
  // Oldest first: when two steps share a code (one in a million), the older one is recorded,
  // so the newer one stays usable.
  for (let step = current + TOTP_WINDOW; step >= current - TOTP_WINDOW; step--) {
    if (step < 0) continue;
    if (timingSafeEqual(Buffer.from(hotp(secret, step, options)), given)) matched = step;
  }
  return matched;
}

/**
 * The `otpauth://totp/…` URI authenticator apps read (usually as a QR code): the de facto
 * format of Google Authenticator's "Key Uri Format".
 */
export function otpauthUri(secret: string, account: string, issuer: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({ secret: secret.replace(/[\s=]/g, '').toUpperCase(), issuer, algorithm: 'SHA1', digits: '6', period: '30' });
  return `otpauth://totp/${label}?${query}`;
}
