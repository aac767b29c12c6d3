/**
 * The crypto backend port. Core code never touches `node:crypto` or WebCrypto directly: it asks
 * the backend chosen by the package.json `imports` condition `#crypto` (node.ts on Node,
 * web.ts everywhere else). Results may be synchronous (Node) or promises (WebCrypto); callers
 * `await` them either way.
 *
 * @module
 */
import type { DPoPAlgorithm } from './algorithms.js';
import { invalidArgument } from '../argument-error.js';

/** Public JSON Web Key members dpopkit uses (RFC 7517 / 7518 / 8037). */
export interface PublicJwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  [member: string]: unknown;
}

/**
 * A key pair and the JWS algorithm it signs with (RFC 9449 §4.2 `alg`): Node `KeyObject`s or
 * WebCrypto `CryptoKey`s. `generateKeyPair` and every import (key stores, the CLI's key files)
 * set `alg`, so a PS256 key is never labelled RS256 and `createProof` needs no `alg` option.
 */
export interface DPoPKeyPair {
  privateKey: unknown;
  publicKey: unknown;
  alg: DPoPAlgorithm;
}

/**
 * Keys made elsewhere, such as a WebCrypto `CryptoKeyPair` or a pair of `KeyObject`s: without
 * `alg`, `createProof` reads it from the key (a WebCrypto RSA key names its scheme and hash; a
 * plain RSA `KeyObject` signs RS256).
 */
export interface KeyPairLike {
  privateKey: unknown;
  publicKey: unknown;
  alg?: DPoPAlgorithm | undefined;
}

type MaybePromise<T> = T | Promise<T>;

export interface CryptoBackend {
  /** Which implementation this is, for diagnostics and benchmarks. */
  readonly name: 'node' | 'web';
  /**
   * Import a public JWK (already checked against `alg`) for verifying `alg` signatures. A weak
   * key (weak-keys.ts) throws `DPoPError` `weak_key`, whoever asks.
   */
  importPublicJwk(jwk: PublicJwk, alg: string): MaybePromise<unknown>;
  /** Verify a JWS signature (a string `data` is the ASCII signing input) (ECDSA in IEEE P1363 form, as JWS uses). */
  verify(alg: string, key: unknown, data: Uint8Array | string, signature: Uint8Array): MaybePromise<boolean>;
  /**
   * Verify a compact JWS's signature straight from its text: `signingInput` is `header.payload`,
   * `signature` the third segment (base64url). Lets Node decode into reused buffers.
   */
  verifyCompact(alg: string, key: unknown, signingInput: string, signature: string): MaybePromise<boolean>;
  /**
   * `verifyCompact` run off the JavaScript thread (Node: OpenSSL on libuv's threadpool), so one
   * process checks signatures on several cores while its event loop goes on; absent where every
   * verification is asynchronous already (WebCrypto).
   */
  verifyCompactOffThread?(alg: string, key: unknown, signingInput: string, signature: string): Promise<boolean>;
  /** Sign with a private key (KeyObject or CryptoKey, including non-extractable ones). */
  sign(alg: string, privateKey: unknown, data: Uint8Array | string): MaybePromise<Uint8Array>;
  /** `sign` run off the JavaScript thread (Node: libuv's threadpool); absent where `sign` is asynchronous anyway. */
  signOffThread?(alg: string, privateKey: unknown, data: Uint8Array | string): Promise<Uint8Array>;
  /** Generate a key pair for `alg` (which it carries); `extractable` applies to the private key only. */
  generateKeyPair(alg: DPoPAlgorithm, options: { extractable: boolean; modulusLength?: number }): MaybePromise<DPoPKeyPair>;
  /** Export a public key (KeyObject or CryptoKey) as a JWK with only its public members. */
  exportPublicJwk(publicKey: unknown): MaybePromise<PublicJwk>;
  /** SHA-256 of bytes or of a string's UTF-8 encoding. */
  sha256(data: Uint8Array | string): MaybePromise<Uint8Array>;
  /** HMAC-SHA-256. */
  hmacSha256(secret: Uint8Array, data: Uint8Array | string): MaybePromise<Uint8Array>;
  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;
  /** base64url without padding (RFC 7515 §2). */
  base64urlEncode(data: Uint8Array | string): string;
  /** Decode base64url to bytes; the caller has already checked the alphabet. */
  base64urlDecode(text: string): Uint8Array;
  /** Decode base64url straight to a UTF-8 string (one step on Node). */
  base64urlDecodeText(text: string): string;
}

/** Keep only the public members of a JWK (RFC 7638 §3.2 required members), in both backends. */
export function publicMembers(jwk: PublicJwk): PublicJwk {
  switch (jwk.kty) {
    case 'EC': return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    case 'OKP': return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
    case 'RSA': return { kty: 'RSA', n: jwk.n, e: jwk.e };
    default: throw invalidArgument(`unsupported key type ${String(jwk.kty)}`);
  }
}
