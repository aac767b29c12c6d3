/**
 * Test support for the weak-key attack: public keys under which signatures can be made without
 * any private key, and those signatures.
 *
 * - Ed25519: a point A of small order, signature R = identity, S = 0. The verification equation
 *   [S]B = R + [k]A holds whenever [k]A is the identity: always for A = identity, for one message
 *   in (order of A) otherwise (the attacker tries jtis until one works).
 * - RSA e = 1: s^e mod n = s, so the "signature" is the RFC 8017 §9.2 encoded message itself.
 */
import * as crypto from 'node:crypto';

export const b64u = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** The identity point of Ed25519 (y = 1, x = 0): 0x01 followed by 31 zero bytes. */
export const IDENTITY_X = 'AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
export const IDENTITY_JWK = { kty: 'OKP', crv: 'Ed25519', x: IDENTITY_X } as const;

/** R = identity, S = 0. */
export const FORGED_ED25519_SIGNATURE = Buffer.concat([Buffer.from(IDENTITY_X, 'base64url'), Buffer.alloc(32)]);

/**
 * The small-order y encodings libsodium refuses (`ge25519_has_small_order`, ed25519_ref10.c),
 * copied from its blocklist: together with the sign bit they cover all 8 points of small order,
 * plus the non-canonical encodings p (≡ 0) and p + 1 (≡ 1).
 * @see https://github.com/jedisct1/libsodium/blob/master/src/libsodium/crypto_core/ed25519/ref10/ed25519_ref10.c
 */
export const LIBSODIUM_BLOCKLIST: ReadonlyArray<{ name: string; hex: string }> = [
  { name: '0 (order 4)', hex: '0000000000000000000000000000000000000000000000000000000000000000' },
  { name: '1 (order 1, the identity)', hex: '0100000000000000000000000000000000000000000000000000000000000000' },
  { name: '2707385501144840649318225287225658788936804267575313519463743609750303402022 (order 8)', hex: '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05' },
  { name: '55188659117513257062467267217118295137698188065244968500265048394206261417927 (order 8)', hex: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a' },
  { name: 'p - 1 (order 2)', hex: 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' },
  { name: 'p (≡ 0, non-canonical, order 4)', hex: 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' },
  { name: 'p + 1 (≡ 1, non-canonical, the identity)', hex: 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' },
];

/** Each blocklisted y with the sign bit of x clear and set: the 8 points, each in every encoding. */
export function smallOrderEncodings(): Array<{ name: string; x: string }> {
  return LIBSODIUM_BLOCKLIST.flatMap(({ name, hex }) => [0, 0x80].map((sign) => {
    const bytes = Buffer.from(hex, 'hex');
    bytes[31] = bytes[31]! | sign;
    return { name: `${name}, sign bit ${sign ? 1 : 0}`, x: bytes.toString('base64url') };
  }));
}

export const P25519 = 2n ** 255n - 19n;

/** The 32-byte little-endian encoding of y (< 2^255), with the sign bit. */
export function encodeY(y: bigint, sign: 0 | 1 = 0): string {
  const bytes = Buffer.alloc(32);
  let v = y;
  for (let i = 0; i < 32; i++) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (sign) bytes[31] = bytes[31]! | 0x80;
  return bytes.toString('base64url');
}

/** A compact JWS over `header.payload` with the Ed25519 forgery as its signature. */
export function forgeEd25519(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${b64u(header)}.${b64u(payload)}.${FORGED_ED25519_SIGNATURE.toString('base64url')}`;
}

/** A 2048-bit RSA modulus (of a real key) with e = 1. */
export function rsaExponentOneJwk(): { kty: 'RSA'; n: string; e: string } {
  const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string };
  return { kty: 'RSA', n: jwk.n, e: 'AQ' };
}

/** DigestInfo prefixes (RFC 8017 §9.2 note 1). */
const DIGEST_INFO: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

/** EMSA-PKCS1-v1_5(M) for a modulus of `bytes` octets: for e = 1 this is a valid RS* signature. */
export function pkcs1v15Encoded(input: string, hash: 'sha256' | 'sha384' | 'sha512', bytes: number): Buffer {
  const t = Buffer.concat([Buffer.from(DIGEST_INFO[hash]!, 'hex'), crypto.createHash(hash).update(input).digest()]);
  return Buffer.concat([Buffer.from([0x00, 0x01]), Buffer.alloc(bytes - t.length - 3, 0xff), Buffer.from([0x00]), t]);
}

/** A compact RS256 JWS "signed" under an e = 1 key: the signature is the encoded message. */
export function forgeRs256(jwk: { n: string }, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64u(header)}.${b64u(payload)}`;
  const size = Buffer.from(jwk.n, 'base64url').length;
  return `${input}.${pkcs1v15Encoded(input, 'sha256', size).toString('base64url')}`;
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
