/**
 * The Node crypto backend: `node:crypto` KeyObjects, the fastest path on Node (DESIGN: hot path).
 * WebCrypto `CryptoKey`s, extractable or not, are accepted too and converted once with
 * `KeyObject.from` (cached per key).
 *
 * @module
 */
import * as crypto from 'node:crypto';
import { ALGORITHMS, type DPoPAlgorithm } from './algorithms.js';
import { backend as webBackend } from './web.js';
import { publicMembers, type CryptoBackend, type DPoPKeyPair, type PublicJwk } from './backend.js';
import { refuseWeakKey } from '../weak-keys.js';
import { invalidArgument } from '../argument-error.js';

const NODE_HASH = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' } as const;

interface NodeSignParams {
  hash: string | null;
  /**
   * The `key` argument of `crypto.sign`/`crypto.verify` for this alg: the KeyObject itself when
   * the alg has no options, else an object literal with them (no spread, nothing merged per call).
   */
  keyArgument(key: crypto.KeyObject): crypto.KeyObject | crypto.SignKeyObjectInput | crypto.VerifyKeyObjectInput;
}

/** The `crypto.sign`/`crypto.verify` arguments for each JWS alg, computed once. */
const PARAMS = new Map<string, NodeSignParams>();
for (const [alg, spec] of Object.entries(ALGORITHMS)) {
  const hash = spec.hash ? NODE_HASH[spec.hash] : null;
  const { RSA_PKCS1_PSS_PADDING: padding, RSA_PSS_SALTLEN_DIGEST: saltLength } = crypto.constants;
  const keyArgument: NodeSignParams['keyArgument'] = spec.kty === 'EC'
    ? (key) => ({ key, dsaEncoding: 'ieee-p1363' })
    : spec.pss
      ? (key) => ({ key, padding, saltLength })
      : (key) => key;
  PARAMS.set(alg, { hash, keyArgument });
}

function params(alg: string): NodeSignParams {
  const p = PARAMS.get(alg);
  if (!p) throw invalidArgument(`unsupported alg ${alg}`);
  return p;
}

/** `crypto.hash` (Node 20.12+): a one-shot digest, about twice as fast as createHash for short input. */
const oneShotHash = (crypto as unknown as { hash?: (alg: string, data: Uint8Array | string, enc: 'buffer') => Buffer }).hash;

const fromCryptoKey = new WeakMap<object, crypto.KeyObject>();

function isCryptoKey(key: unknown): key is crypto.webcrypto.CryptoKey {
  return typeof key === 'object' && key !== null && key instanceof globalThis.CryptoKey;
}

/** A KeyObject for a KeyObject or an extractable CryptoKey (converted once, cached). */
export function toKeyObject(key: unknown): crypto.KeyObject {
  if (key instanceof crypto.KeyObject) return key;
  if (isCryptoKey(key) && (key.extractable || key.type === 'public')) {
    let ko = fromCryptoKey.get(key);
    if (!ko) {
      ko = crypto.KeyObject.from(key as crypto.webcrypto.CryptoKey);
      fromCryptoKey.set(key, ko);
    }
    return ko;
  }
  throw invalidArgument('key must be a node:crypto KeyObject or a WebCrypto CryptoKey', 'ERR_INVALID_ARG_TYPE');
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Scratch space for decoding a proof's signing input and signature on the hot path, with the
 * last view of each length kept (a client's proofs have one length), so a verify allocates no
 * Buffer objects. Safe to reuse: `crypto.verify` is synchronous and keeps no reference to its
 * arguments.
 */
class Scratch {
  #bytes = Buffer.allocUnsafe(8192);
  #view = this.#bytes.subarray(0, 0);
  /** The buffer, with room for at least `length` bytes (it grows; views of the old one are dropped). */
  room(length: number): Buffer {
    if (length > this.#bytes.length) {
      this.#bytes = Buffer.allocUnsafe(length * 2);
      this.#view = this.#bytes.subarray(0, 0);
    }
    return this.#bytes;
  }
  /** The first `length` bytes. */
  view(length: number): Buffer {
    if (this.#view.length !== length) this.#view = this.#bytes.subarray(0, length);
    return this.#view;
  }
}
const signingInputScratch = new Scratch();
const signatureScratch = new Scratch();
/** For `base64urlDecodeText` (a proof's header or payload, decoded before the signature is checked). */
const segmentScratch = new Scratch();

/** JWS signing input is ASCII: latin1 is the cheapest exact conversion. */
function toBytes(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : asBuffer(data);
}

export const backend: CryptoBackend = {
  name: 'node',

  importPublicJwk(jwk: PublicJwk): crypto.KeyObject {
    // OpenSSL verifies forgeries under small-order Ed25519 points and RSA e = 1: never import one.
    refuseWeakKey(jwk);
    return crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
  },

  verify(alg, key, data, signature): boolean {
    const p = params(alg);
    return crypto.verify(p.hash, toBytes(data), p.keyArgument(key as crypto.KeyObject), asBuffer(signature));
  },

  verifyCompact(alg, key, signingInput, signature): boolean {
    const p = params(alg);
    const dataLength = signingInputScratch.room(signingInput.length).write(signingInput, 0, 'latin1');
    const sigLength = signatureScratch.room(signature.length).write(signature, 0, 'base64url');
    return crypto.verify(p.hash, signingInputScratch.view(dataLength), p.keyArgument(key as crypto.KeyObject), signatureScratch.view(sigLength));
  },

  verifyCompactOffThread(alg, key, signingInput, signature): Promise<boolean> {
    const p = params(alg);
    // Fresh buffers (not the scratch ones): the job reads them on another thread, later.
    const data = Buffer.from(signingInput, 'latin1');
    const sig = Buffer.from(signature, 'base64url');
    return new Promise((resolve, reject) => {
      crypto.verify(p.hash, data, p.keyArgument(key as crypto.KeyObject), sig, (err, ok) => (err ? reject(err) : resolve(ok)));
    });
  },

  sign(alg, privateKey, data): Uint8Array | Promise<Uint8Array> {
    // A non-extractable CryptoKey stays inside WebCrypto: converting it to a KeyObject would
    // make it exportable again (Node's KeyObject.from does not carry the flag over).
    if (isCryptoKey(privateKey) && !privateKey.extractable) return webBackend.sign(alg, privateKey, toBytes(data));
    const p = params(alg);
    return crypto.sign(p.hash, toBytes(data), p.keyArgument(toKeyObject(privateKey)) as crypto.SignKeyObjectInput);
  },

  async signOffThread(alg, privateKey, data): Promise<Uint8Array> {
    if (isCryptoKey(privateKey) && !privateKey.extractable) return webBackend.sign(alg, privateKey, toBytes(data));
    const p = params(alg);
    const key = p.keyArgument(toKeyObject(privateKey)) as crypto.SignKeyObjectInput;
    const bytes = toBytes(data);
    return new Promise((resolve, reject) => {
      crypto.sign(p.hash, bytes, key, (err, signature) => (err ? reject(err) : resolve(signature)));
    });
  },

  generateKeyPair(alg, { extractable, modulusLength = 2048 }): DPoPKeyPair | Promise<DPoPKeyPair> {
    const spec = ALGORITHMS[alg];
    if (!spec) throw invalidArgument(`unsupported alg ${alg}`);
    if (!extractable) {
      // A non-extractable private key exists only as a WebCrypto CryptoKey.
      return webGenerate(alg, modulusLength);
    }
    const { privateKey, publicKey } = spec.kty === 'EC'
      ? crypto.generateKeyPairSync('ec', { namedCurve: spec.crv! })
      : spec.kty === 'OKP'
        ? crypto.generateKeyPairSync('ed25519')
        // A plain RSA key serves PS* too, and exports as a JWK (an rsa-pss KeyObject does not):
        // the pair's alg is what says PS256.
        : crypto.generateKeyPairSync('rsa', { modulusLength });
    return { privateKey, publicKey, alg };
  },

  exportPublicJwk(publicKey): PublicJwk {
    const key = toKeyObject(publicKey);
    // Never export private material by accident: derive the public half first.
    const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
    return publicMembers(pub.export({ format: 'jwk' }) as PublicJwk);
  },

  sha256(data): Uint8Array {
    return oneShotHash ? oneShotHash('sha256', data, 'buffer') : crypto.createHash('sha256').update(data).digest();
  },

  hmacSha256(secret, data): Uint8Array {
    return crypto.createHmac('sha256', secret).update(data).digest();
  },

  randomBytes(length): Uint8Array {
    return crypto.randomBytes(length);
  },

  base64urlEncode(data): string {
    return (typeof data === 'string' ? Buffer.from(data, 'utf8') : asBuffer(data)).toString('base64url');
  },

  base64urlDecode(text): Uint8Array {
    return Buffer.from(text, 'base64url');
  },

  base64urlDecodeText(text): string {
    const bytes = segmentScratch.room(text.length);
    return bytes.toString('utf8', 0, bytes.write(text, 0, 'base64url'));
  },
};

function webGenerate(alg: DPoPAlgorithm, modulusLength: number): Promise<DPoPKeyPair> {
  return webBackend.generateKeyPair(alg, { extractable: false, modulusLength }) as Promise<DPoPKeyPair>;
}

export default backend;
