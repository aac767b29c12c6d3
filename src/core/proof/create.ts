/**
 * `createProof` (RFC 9449 §4.2): a `dpop+jwt` compact JWS over `jti`, `htm`, `htu`, `iat` and,
 * when given, `ath` and `nonce`. The header is encoded once per key pair and reused.
 *
 * @module
 */
import { backend } from '#crypto';
import type { DPoPAlgorithm } from '../crypto/algorithms.js';
import type { DPoPKeyPair, KeyPairLike } from '../crypto/backend.js';
import { invalidArgument } from '../errors.js';
import { stripQueryAndFragment } from '../htu.js';
import { resolveKeyAlgorithm } from '../keys.js';
import { accessTokenHash } from '../thumbprint.js';
import { BoundedCache } from './parse.js';

export interface CreateProofOptions {
  /** HTTP method of the request, as sent (§4.2 `htm`). */
  htm: string;
  /** Target URI; query and fragment are removed (§4.2 `htu`). */
  htu: string;
  /** Access token the request carries: adds `ath` (§4.2). */
  accessToken?: string;
  /** Latest `DPoP-Nonce` from this server (§8, §9). */
  nonce?: string;
  /** Creation time in epoch seconds (default: now). */
  iat?: number;
  /** Unique identifier (default: 128 random bits, base64url). */
  jti?: string;
  /**
   * Signature algorithm. Default: the key pair's `alg` (every pair from `generateKeyPair` or a
   * key store has one), else read from the key (ES256/384/512, EdDSA; a WebCrypto RSA key's own
   * scheme and hash; RS256 for a plain RSA `KeyObject`). An alg other than the pair's is a
   * `TypeError`, as is one that does not fit the key.
   */
  alg?: DPoPAlgorithm;
  /** Extra claims, for extensions; they cannot override the ones above. */
  claims?: Record<string, unknown>;
}

interface KeyHeader {
  alg: DPoPAlgorithm;
  segment: string;
}

const headers = new WeakMap<object, Map<string, KeyHeader>>();
const athMemo = new BoundedCache<string, string>(64);

/**
 * The header segment for a key pair and alg (the option's or the pair's; '' when neither names
 * one), encoded once; a promise only on the first call.
 */
function keyHeader(keyPair: KeyPairLike, alg: DPoPAlgorithm | undefined): KeyHeader | Promise<KeyHeader> {
  return headers.get(keyPair.privateKey as object)?.get(alg ?? '') ?? encodeKeyHeader(keyPair, alg);
}

async function encodeKeyHeader(keyPair: KeyPairLike, alg: DPoPAlgorithm | undefined): Promise<KeyHeader> {
  const privateKey = keyPair.privateKey as object;
  // Checks the alg against the key (and refuses weak keys) once per key and alg.
  const { alg: chosen, jwk } = await resolveKeyAlgorithm(keyPair, alg);
  const entry: KeyHeader = { alg: chosen, segment: backend.base64urlEncode(JSON.stringify({ typ: 'dpop+jwt', alg: chosen, jwk })) };
  let byAlg = headers.get(privateKey);
  if (!byAlg) headers.set(privateKey, (byAlg = new Map()));
  byAlg.set(alg ?? '', entry);
  return entry;
}

// jti randomness is drawn in blocks: one system call per 256 proofs.
let pool: Uint8Array = new Uint8Array(0);
let poolOffset = 0;
function randomJti(): string {
  if (poolOffset + 16 > pool.length) {
    pool = backend.randomBytes(4096);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return backend.base64urlEncode(bytes);
}

/**
 * Create a DPoP proof for one request.
 *
 * @example
 * ```ts
 * const keyPair = await generateKeyPair('ES256');
 * const proof = await createProof(keyPair, { htm: 'POST', htu: 'https://server.example.com/token' });
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function createProof(keyPair: DPoPKeyPair | KeyPairLike, options: CreateProofOptions): Promise<string> {
  if (!keyPair || typeof keyPair !== 'object' || !keyPair.privateKey || !keyPair.publicKey) {
    throw invalidArgument('createProof needs a key pair { privateKey, publicKey }');
  }
  if (typeof options?.htm !== 'string' || options.htm === '') throw invalidArgument('createProof needs htm (the HTTP method)');
  if (typeof options.htu !== 'string' || options.htu === '') throw invalidArgument('createProof needs htu (the target URI)');
  // The pair's alg is what the key was made for: another one asked for is a caller mistake,
  // refused here too, as a cached header for the other alg may exist (no await: two compares).
  if (options.alg !== undefined && keyPair.alg !== undefined && options.alg !== keyPair.alg) {
    throw invalidArgument(`createProof: alg ${String(options.alg)} was asked of a key pair that carries alg ${String(keyPair.alg)}`);
  }
  // Node answers the header lookup and the signature synchronously: skip the microtask an
  // `await` of a plain value costs (WebCrypto's promises are awaited as usual).
  const cachedOrPending = keyHeader(keyPair, options.alg ?? keyPair.alg);
  const header = cachedOrPending instanceof Promise ? await cachedOrPending : cachedOrPending;
  const jti = options.jti ?? randomJti();
  const htu = stripQueryAndFragment(options.htu);
  const iat = options.iat ?? Math.floor(Date.now() / 1000);
  // A plain literal when there are no extension claims: spreading `undefined` leaves an object
  // shape that JSON.stringify serialises more slowly.
  const claims: Record<string, unknown> = options.claims === undefined
    ? { jti, htm: options.htm, htu, iat }
    : { ...options.claims, jti, htm: options.htm, htu, iat };
  if (options.accessToken !== undefined) {
    let ath = athMemo.get(options.accessToken);
    if (ath === undefined) athMemo.set(options.accessToken, (ath = await accessTokenHash(options.accessToken)));
    claims.ath = ath;
  }
  if (options.nonce !== undefined) claims.nonce = options.nonce;
  const signingInput = `${header.segment}.${backend.base64urlEncode(JSON.stringify(claims))}`;
  const signed = backend.sign(header.alg, keyPair.privateKey, signingInput);
  const signature = signed instanceof Promise ? await signed : signed;
  return `${signingInput}.${backend.base64urlEncode(signature)}`;
}
