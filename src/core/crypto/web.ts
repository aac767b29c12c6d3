/**
 * The WebCrypto backend, for browsers and edge runtimes where `node:crypto` is absent.
 * Private keys may be non-extractable: they are used, never read (RFC 9449 §11.4).
 *
 * @module
 */
import { ALGORITHMS, type DPoPAlgorithm } from './algorithms.js';
import { publicMembers, type CryptoBackend, type DPoPKeyPair, type PublicJwk } from './backend.js';
import { refuseWeakKey } from '../weak-keys.js';
import { invalidArgument } from '../argument-error.js';

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The WebCrypto algorithm object for key generation and import. */
export function webAlgorithm(alg: DPoPAlgorithm, modulusLength = 2048): Record<string, unknown> {
  const spec = ALGORITHMS[alg];
  if (!spec) throw invalidArgument(`unsupported alg ${alg}`);
  if (spec.kty === 'EC') return { name: 'ECDSA', namedCurve: spec.crv };
  if (spec.kty === 'OKP') return { name: 'Ed25519' };
  return {
    name: spec.pss ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5',
    hash: spec.hash,
    modulusLength,
    publicExponent: new Uint8Array([1, 0, 1]),
  };
}

/** The per-signature parameters (hash for ECDSA, salt length for PSS). */
function signParams(alg: DPoPAlgorithm): Record<string, unknown> {
  const spec = ALGORITHMS[alg];
  if (spec.kty === 'EC') return { name: 'ECDSA', hash: spec.hash };
  if (spec.kty === 'OKP') return { name: 'Ed25519' };
  if (spec.pss) return { name: 'RSA-PSS', saltLength: Number(spec.hash!.slice(4)) / 8 };
  return { name: 'RSASSA-PKCS1-v1_5' };
}

function bytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

export const backend: CryptoBackend = {
  name: 'web',

  async importPublicJwk(jwk: PublicJwk, alg: string): Promise<CryptoKey> {
    // WebCrypto implementations verify forgeries under small-order Ed25519 points and RSA
    // e = 1 (Node's is OpenSSL): never import one.
    refuseWeakKey(jwk);
    return subtle().importKey('jwk', jwk as JsonWebKey, webAlgorithm(alg as DPoPAlgorithm) as unknown as EcKeyImportParams, false, ['verify']);
  },

  async verify(alg, key, data, signature): Promise<boolean> {
    return subtle().verify(signParams(alg as DPoPAlgorithm) as unknown as EcdsaParams, key as CryptoKey, signature as BufferSource, bytes(data) as BufferSource);
  },

  verifyCompact(alg, key, signingInput, signature): Promise<boolean> {
    return backend.verify(alg, key, signingInput, backend.base64urlDecode(signature)) as Promise<boolean>;
  },

  async sign(alg, privateKey, data): Promise<Uint8Array> {
    const sig = await subtle().sign(signParams(alg as DPoPAlgorithm) as unknown as EcdsaParams, privateKey as CryptoKey, bytes(data) as BufferSource);
    return new Uint8Array(sig);
  },

  async generateKeyPair(alg, { extractable, modulusLength = 2048 }): Promise<DPoPKeyPair> {
    const algorithm = webAlgorithm(alg, modulusLength);
    const pair = await subtle().generateKey(algorithm as unknown as EcKeyGenParams, extractable, ['sign', 'verify']) as CryptoKeyPair;
    return { privateKey: pair.privateKey, publicKey: pair.publicKey, alg };
  },

  async exportPublicJwk(publicKey): Promise<PublicJwk> {
    return publicMembers(await subtle().exportKey('jwk', publicKey as CryptoKey) as PublicJwk);
  },

  async sha256(data): Promise<Uint8Array> {
    return new Uint8Array(await subtle().digest('SHA-256', bytes(data) as BufferSource));
  },

  async hmacSha256(secret, data): Promise<Uint8Array> {
    const key = await subtle().importKey('raw', secret as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return new Uint8Array(await subtle().sign('HMAC', key, bytes(data) as BufferSource));
  },

  randomBytes(length): Uint8Array {
    return globalThis.crypto.getRandomValues(new Uint8Array(length));
  },

  base64urlEncode(data): string {
    const raw = bytes(data);
    let binary = '';
    for (let i = 0; i < raw.length; i++) binary += String.fromCharCode(raw[i]!);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  },

  base64urlDecode(text): Uint8Array {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  },

  base64urlDecodeText(text): string {
    return decoder.decode(backend.base64urlDecode(text));
  },
};

export default backend;
