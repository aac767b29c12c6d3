/**
 * `createProof` (RFC 9449 §4.2): a `dpop+jwt` compact JWS over `jti`, `htm`, `htu`, `iat` and,
 * when given, `ath` and `nonce`. `createProofSigner` encodes the header once per key pair and
 * reuses it; no state lives in this module.
 *
 * @module
 */
import { backend } from '#crypto';
import type { DPoPAlgorithm } from '../crypto/algorithms.js';
import type { DPoPKeyPair, KeyPairLike } from '../crypto/backend.js';
import { invalidArgument } from '../argument-error.js';
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

/** A signer with its own caches; see {@link createProofSigner}. */
export interface ProofSigner {
  /** {@link createProof}, with this signer's caches. */
  sign(keyPair: DPoPKeyPair | KeyPairLike, options: CreateProofOptions): Promise<string>;
}

/** The state one signer owns; `createProof` runs with none. */
interface SignerState {
  /** Encoded header per private key object and alg ('' when neither the option nor the pair names one). */
  headers: WeakMap<object, Map<string, KeyHeader>>;
  /** `ath` of the access tokens this signer was given lately (a client presents the same token many times). */
  ath: BoundedCache<string, string>;
  /** jti randomness, drawn in blocks: one system call per 256 proofs. */
  pool: Uint8Array;
  offset: number;
}

/** The header segment for a key pair and alg, from the signer's cache; a promise only on a miss. */
function keyHeader(keyPair: KeyPairLike, alg: DPoPAlgorithm | undefined, state: SignerState | undefined): KeyHeader | Promise<KeyHeader> {
  return state?.headers.get(keyPair.privateKey as object)?.get(alg ?? '') ?? encodeKeyHeader(keyPair, alg, state);
}

async function encodeKeyHeader(keyPair: KeyPairLike, alg: DPoPAlgorithm | undefined, state: SignerState | undefined): Promise<KeyHeader> {
  // Checks the alg against the key (and refuses weak keys) once per key and alg.
  const { alg: chosen, jwk } = await resolveKeyAlgorithm(keyPair, alg);
  const entry: KeyHeader = { alg: chosen, segment: backend.base64urlEncode(JSON.stringify({ typ: 'dpop+jwt', alg: chosen, jwk })) };
  if (state) {
    const privateKey = keyPair.privateKey as object;
    let byAlg = state.headers.get(privateKey);
    if (!byAlg) state.headers.set(privateKey, (byAlg = new Map()));
    byAlg.set(alg ?? '', entry);
  }
  return entry;
}

function randomJti(state: SignerState | undefined): string {
  if (!state) return backend.base64urlEncode(backend.randomBytes(16));
  if (state.offset + 16 > state.pool.length) {
    state.pool = backend.randomBytes(4096);
    state.offset = 0;
  }
  const bytes = state.pool.subarray(state.offset, state.offset + 16);
  state.offset += 16;
  return backend.base64urlEncode(bytes);
}

/** `ath` of a token: from the signer's memo (synchronously), or hashed (and remembered). */
function athOf(accessToken: string, state: SignerState | undefined): string | Promise<string> {
  const known = state?.ath.get(accessToken);
  if (known !== undefined) return known;
  return accessTokenHash(accessToken).then((ath) => {
    state?.ath.set(accessToken, ath);
    return ath;
  });
}

/**
 * Create a proof signer that owns its caches: each key's encoded header (the alg checked against
 * the key once), the `ath` of recent access tokens, and a block of randomness for `jti`s. Every
 * DPoP client has its own; two signers share nothing.
 *
 * @example
 * ```ts
 * const signer = createProofSigner();
 * const proof = await signer.sign(keyPair, { htm: 'GET', htu: 'https://api.example.com/notes', accessToken });
 * ```
 */
export function createProofSigner(): ProofSigner {
  const state: SignerState = { headers: new WeakMap(), ath: new BoundedCache(64), pool: new Uint8Array(0), offset: 0 };
  return { sign: (keyPair, options) => sign(keyPair, options, state) };
}

/**
 * Create a DPoP proof for one request.
 *
 * One call, nothing remembered: the key's public JWK is exported and checked, and the header
 * encoded, on every call. To sign many proofs use {@link createProofSigner} (a DPoP client has
 * one), which does that once per key.
 *
 * @example
 * ```ts
 * const keyPair = await generateKeyPair('ES256');
 * const proof = await createProof(keyPair, { htm: 'POST', htu: 'https://server.example.com/token' });
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function createProof(keyPair: DPoPKeyPair | KeyPairLike, options: CreateProofOptions): Promise<string> {
  return sign(keyPair, options, undefined);
}

async function sign(keyPair: DPoPKeyPair | KeyPairLike, options: CreateProofOptions, state: SignerState | undefined): Promise<string> {
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
  const cachedOrPending = keyHeader(keyPair, options.alg ?? keyPair.alg, state);
  const header = cachedOrPending instanceof Promise ? await cachedOrPending : cachedOrPending;
  const jti = options.jti ?? randomJti(state);
  const htu = stripQueryAndFragment(options.htu);
  const iat = options.iat ?? Math.floor(Date.now() / 1000);
  // A plain literal when there are no extension claims: spreading `undefined` leaves an object
  // shape that JSON.stringify serialises more slowly.
  const claims: Record<string, unknown> = options.claims === undefined
    ? { jti, htm: options.htm, htu, iat }
    : { ...options.claims, jti, htm: options.htm, htu, iat };
  if (options.accessToken !== undefined) {
    const ath = athOf(options.accessToken, state);
    claims.ath = typeof ath === 'string' ? ath : await ath;
  }
  if (options.nonce !== undefined) claims.nonce = options.nonce;
  const signingInput = `${header.segment}.${backend.base64urlEncode(JSON.stringify(claims))}`;
  const signed = backend.sign(header.alg, keyPair.privateKey, signingInput);
  const signature = signed instanceof Promise ? await signed : signed;
  return `${signingInput}.${backend.base64urlEncode(signature)}`;
}
