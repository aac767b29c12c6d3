/**
 * Checks on the proof's `jwk` header (RFC 9449 §4.2, §4.3 (5)–(7)): a public key whose type
 * and curve agree with `alg`, with no private member (the embedded key proves possession only;
 * it is never trusted as an identity: CVE-2018-0114 class), and not a weak key that verifies
 * signatures made without any private key (weak-keys.ts).
 *
 * @module
 */
import { backend } from '#crypto';
import { ALGORITHMS, MIN_RSA_BITS, type DPoPAlgorithm } from './crypto/algorithms.js';
import type { PublicJwk } from './crypto/backend.js';
import { invalidProof } from './errors.js';
import { keyWeakness } from './weak-keys.js';

/** Members that only a private (or symmetric) JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** A JWK has few members; a larger object is refused before anything else looks at it. */
const MAX_JWK_MEMBERS = 12;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Validate `jwk` as the public key for `alg` and return its public members.
 * @throws DPoPError `bad_jwk`, `jwk_private`, `jwk_alg_mismatch` or `weak_key`
 */
export function checkPublicJwk(jwk: unknown, alg: DPoPAlgorithm): PublicJwk {
  const key = publicKeyFor(jwk, alg);
  // A small-order Ed25519 point or an RSA key with e = 1 "verifies" forged proofs: the binding
  // to a key would bind to nobody.
  const weakness = keyWeakness(key);
  if (weakness !== undefined) throw invalidProof('weak_key', `the "jwk" header parameter is a weak key: ${weakness}`);
  return key;
}

function publicKeyFor(jwk: unknown, alg: DPoPAlgorithm): PublicJwk {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw invalidProof('bad_jwk', 'the "jwk" header parameter must be a JSON object');
  }
  const key = jwk as Record<string, unknown>;
  if (Object.keys(key).length > MAX_JWK_MEMBERS) {
    throw invalidProof('bad_jwk', `the "jwk" header parameter has more than ${MAX_JWK_MEMBERS} members`);
  }
  // RFC 9449 §4.3 (7): the jwk MUST NOT contain a private key.
  for (const member of PRIVATE_MEMBERS) {
    if (member in key) {
      throw invalidProof('jwk_private', `the "jwk" header parameter must be a public key, but it has the private member "${member}"`);
    }
  }
  const spec = ALGORITHMS[alg];
  // RFC 9449 §4.3 (5)/(6): alg must fit the key, or the signature check means nothing.
  if (key.kty !== spec.kty) {
    throw invalidProof('jwk_alg_mismatch', `alg ${alg} needs a key of kty "${spec.kty}", but the "jwk" has kty ${JSON.stringify(key.kty)}`);
  }
  if (spec.crv !== undefined && key.crv !== spec.crv) {
    throw invalidProof('jwk_alg_mismatch', `alg ${alg} needs curve ${spec.crv}, but the "jwk" has crv ${JSON.stringify(key.crv)}`);
  }
  if ('use' in key && key.use !== 'sig') {
    throw invalidProof('bad_jwk', `the "jwk" has "use" ${JSON.stringify(key.use)}, not "sig"`);
  }
  if ('alg' in key && key.alg !== alg) {
    throw invalidProof('jwk_alg_mismatch', `the "jwk" is restricted to alg ${JSON.stringify(key.alg)}, but the proof uses ${alg}`);
  }
  switch (spec.kty) {
    case 'EC':
      requireCoordinate(key, 'x', spec.size!);
      requireCoordinate(key, 'y', spec.size!);
      return { kty: 'EC', crv: spec.crv!, x: key.x as string, y: key.y as string };
    case 'OKP':
      requireCoordinate(key, 'x', spec.size!);
      return { kty: 'OKP', crv: spec.crv!, x: key.x as string };
    case 'RSA': {
      requireBase64url(key, 'n');
      requireBase64url(key, 'e');
      const bits = modulusBits(key.n as string);
      if (bits < MIN_RSA_BITS) {
        throw invalidProof('bad_jwk', `the RSA "jwk" has a ${bits}-bit modulus; at least ${MIN_RSA_BITS} bits are required`);
      }
      return { kty: 'RSA', n: key.n as string, e: key.e as string };
    }
  }
}

function requireBase64url(key: Record<string, unknown>, member: string): void {
  const value = key[member];
  if (typeof value !== 'string' || !BASE64URL.test(value)) {
    throw invalidProof('bad_jwk', `the "jwk" member "${member}" must be a base64url string`);
  }
}

function requireCoordinate(key: Record<string, unknown>, member: string, size: number): void {
  requireBase64url(key, member);
  // base64url of `size` bytes without padding has exactly ceil(size * 4 / 3) characters.
  if ((key[member] as string).length !== Math.ceil((size * 4) / 3)) {
    throw invalidProof('bad_jwk', `the "jwk" member "${member}" must encode ${size} bytes`);
  }
}

/** Bit length of a base64url big-endian unsigned integer (leading zero bytes ignored). */
function modulusBits(n: string): number {
  const bytes = backend.base64urlDecode(n);
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}
