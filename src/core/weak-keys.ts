/**
 * Public keys that verify signatures nobody made: refused wherever a JWK enters dpopkit (a
 * proof's `jwk`, a client's `jwks`, an issuer's JWK Set, the authorization server's own keys,
 * the CLI), so the checks live here, once.
 *
 * - Ed25519 / Ed448: a point of small order (or a non-canonical encoding of one) verifies the
 *   signature R = identity, S = 0 over many messages (every message for the identity) in
 *   verifiers that follow RFC 8032 §5.1.7 / §5.2.7 without a small-order check, OpenSSL's among
 *   them. Non-canonical encodings (y ≥ p) fail RFC 8032 §5.1.3 / §5.2.3 decoding.
 * - RSA: with e = 1 a "signature" is the padded digest itself (RFC 8017 §8.2.2: s^e mod n = EM);
 *   small or even exponents are refused as FIPS 186-5 §A.1.1 asks (odd, 2^16 < e < 2^256), and
 *   so are even moduli and non-minimal encodings (RFC 7518 §2 Base64urlUInt).
 * - EC (P-256/384/521): coordinates below p, point on the curve (SEC 1 §3.2.2.1; an off-curve
 *   point is an invalid-curve key). The crypto libraries check this too; we do not rely on it.
 *
 * Pure: no I/O, no crypto backend (both backends call it), BigInt arithmetic on a cache miss only.
 *
 * @module
 */
import { MIN_RSA_BITS } from './crypto/algorithms.js';
import { DPoPError } from './errors.js';

// --- base64url, canonical only (RFC 7515 §2, RFC 4648 §3.5: unused trailing bits are zero) ---

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

/** Bytes of a canonical unpadded base64url string, or undefined for anything else. */
function decodeCanonical(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const v = code < 128 ? VALUE[code]! : -1;
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // Leftover bits must be zero, or two strings would name one key (and two thumbprints).
  if ((acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

function bigEndian(bytes: Uint8Array): bigint {
  let hex = '0x0';
  for (let i = 0; i < bytes.length; i++) hex += bytes[i]!.toString(16).padStart(2, '0');
  return BigInt(hex);
}

function littleEndian(bytes: Uint8Array): bigint {
  let hex = '0x0';
  for (let i = bytes.length - 1; i >= 0; i--) hex += bytes[i]!.toString(16).padStart(2, '0');
  return BigInt(hex);
}

// --- Edwards curves (RFC 8032) ---

interface EdwardsCurve {
  /** Encoded length in bytes (RFC 8032 §5.1.2: 32; §5.2.2: 57). */
  size: number;
  p: bigint;
  /** y-coordinates of every point of small order: the identity and the cofactor torsion. */
  smallOrderY: ReadonlySet<bigint>;
}

const P25519 = 2n ** 255n - 19n;
/** y of the four points of order 8 (the other two order-8 y values are their negatives). */
const Y_ORDER_8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;
const P448 = 2n ** 448n - 2n ** 224n - 1n;

const EDWARDS: Readonly<Record<string, EdwardsCurve>> = {
  // Cofactor 8: identity (y = 1), order 2 (y = -1), order 4 (y = 0), order 8 (y = ±Y_ORDER_8).
  Ed25519: { size: 32, p: P25519, smallOrderY: new Set([1n, P25519 - 1n, 0n, Y_ORDER_8, P25519 - Y_ORDER_8]) },
  // Cofactor 4 (edwards448, a = 1): identity (y = 1), order 2 (y = -1), order 4 (y = 0, x = ±1).
  Ed448: { size: 57, p: P448, smallOrderY: new Set([1n, P448 - 1n, 0n]) },
};

/** RFC 8032 §5.1.3 / §5.2.3: y is the encoding with the top bit (x's sign) cleared. */
function edwardsWeakness(crv: string, curve: EdwardsCurve, x: unknown): string | undefined {
  const bytes = decodeCanonical(x);
  if (!bytes || bytes.length !== curve.size) return `the ${crv} "x" must be the canonical base64url of ${curve.size} bytes`;
  const y = littleEndian(bytes) & ((1n << BigInt(curve.size * 8 - 1)) - 1n);
  if (y >= curve.p) return `the ${crv} "x" is a non-canonical point encoding (y ≥ p; RFC 8032 decoding refuses it)`;
  if (curve.smallOrderY.has(y)) return `the ${crv} "x" is a point of small order: it verifies signatures made without any private key (RFC 8032 §5.1.7)`;
  return undefined;
}

// --- NIST curves (FIPS 186-5, SEC 2): y² = x³ - 3x + b over GF(p), cofactor 1 ---

interface WeierstrassCurve {
  size: number;
  p: bigint;
  b: bigint;
}

const WEIERSTRASS: Readonly<Record<string, WeierstrassCurve>> = {
  'P-256': {
    size: 32,
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  'P-384': {
    size: 48,
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
  'P-521': {
    size: 66,
    p: 2n ** 521n - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  },
};

function ecWeakness(crv: string, curve: WeierstrassCurve, jwk: Record<string, unknown>): string | undefined {
  const xb = decodeCanonical(jwk.x);
  const yb = decodeCanonical(jwk.y);
  if (!xb || xb.length !== curve.size || !yb || yb.length !== curve.size) {
    return `the ${crv} "x" and "y" must be the canonical base64url of ${curve.size} bytes each`;
  }
  const { p, b } = curve;
  const x = bigEndian(xb);
  const y = bigEndian(yb);
  if (x >= p || y >= p) return `the ${crv} point has a coordinate not below p`;
  // SEC 1 §3.2.2.1 (partial validation suffices at cofactor 1): the point is on the curve.
  if ((y * y - (x * x * x - 3n * x + b)) % p !== 0n) return `the ${crv} point is not on the curve`;
  return undefined;
}

// --- RSA ---

/** FIPS 186-5 §A.1.1: 2^16 < e < 2^256. */
const MIN_E = 65537n;
const E_LIMIT = 2n ** 256n;

function rsaWeakness(jwk: Record<string, unknown>): string | undefined {
  const nb = decodeCanonical(jwk.n);
  const eb = decodeCanonical(jwk.e);
  if (!nb || !eb) return 'the RSA "n" and "e" must be canonical base64url';
  // RFC 7518 §2 (Base64urlUInt): the minimum number of octets, so one key has one thumbprint.
  if (nb[0] === 0 || eb[0] === 0) return 'the RSA "n" and "e" must not have leading zero octets (RFC 7518 §2)';
  const bits = (nb.length - 1) * 8 + (32 - Math.clz32(nb[0]!));
  if (bits < MIN_RSA_BITS) return `the RSA modulus has ${bits} bits; at least ${MIN_RSA_BITS} are required`;
  if ((nb[nb.length - 1]! & 1) === 0) return 'the RSA modulus is even';
  const e = bigEndian(eb);
  if (e === 1n) return 'the RSA exponent is 1: every padded digest is its own signature (RFC 8017 §8.2.2)';
  if ((e & 1n) === 0n || e < MIN_E || e >= E_LIMIT) return `the RSA exponent ${e < 2n ** 64n ? String(e) : 'given'} is weak: it must be odd and 65537 ≤ e < 2^256 (FIPS 186-5 §A.1.1)`;
  return undefined;
}

/**
 * Why a public JWK must not be used to verify signatures, or `undefined` when it has none of the
 * weaknesses this module knows. Key types and curves it does not know (oct, X25519,
 * secp256k1, …) answer `undefined`: whether they are acceptable at all is the caller's check.
 */
export function keyWeakness(jwk: unknown): string | undefined {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'the key is not a JSON object';
  const key = jwk as Record<string, unknown>;
  switch (key.kty) {
    case 'RSA':
      return rsaWeakness(key);
    case 'OKP': {
      const curve = typeof key.crv === 'string' && Object.prototype.hasOwnProperty.call(EDWARDS, key.crv) ? EDWARDS[key.crv] : undefined;
      return curve ? edwardsWeakness(key.crv as string, curve, key.x) : undefined;
    }
    case 'EC': {
      const curve = typeof key.crv === 'string' && Object.prototype.hasOwnProperty.call(WEIERSTRASS, key.crv) ? WEIERSTRASS[key.crv] : undefined;
      return curve ? ecWeakness(key.crv as string, curve, key) : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Throw `DPoPError` `weak_key` (an `invalid_dpop_proof`) for a weak key; the crypto backends call
 * this before every public-key import.
 */
export function refuseWeakKey(jwk: unknown): void {
  const weakness = keyWeakness(jwk);
  if (weakness !== undefined) throw new DPoPError('invalid_dpop_proof', 'weak_key', weakness);
}
