/**
 * `verifyProof`: every check of RFC 9449 §4.3, in order, as named functions; the `jti` is spent
 * last, so a proof refused for any other reason can still be corrected and sent again.
 * `createProofVerifier` runs the same checks with a cache of the headers it has seen; no state
 * lives in this module (two servers in one process share nothing).
 *
 * @module
 */
import { backend } from '#crypto';
import { DEFAULT_ALGORITHMS } from '../crypto/algorithms.js';
import type { PublicJwk } from '../crypto/backend.js';
import { invalidArgument } from '../argument-error.js';
import { DPoPError } from '../errors.js';
import { checkPublicJwk } from '../jwk.js';
import type { NonceSource } from '../nonce.js';
import { replayKey, type ReplayCache } from '../replay.js';
import { accessTokenHash, jwkThumbprint } from '../thumbprint.js';
import {
  checkAlg, checkAth, checkClaimTypes, checkHeaderShape, checkHtm, checkHtu, checkIat, checkJkt,
  checkSignature, checkTyp, type ProofClaims, type ProofHeader,
} from './checks.js';
import { BoundedCache, decodeJsonSegment, singleProof, splitCompact } from './parse.js';

export interface ProofExpectations {
  /** The request method, exactly as received (compared case-sensitively, §4.3 (8)). */
  method: string;
  /** The absolute request URI the server was reached at (§4.3 (9)); see the resource server's `request-url`. */
  url: string;
  /**
   * Where `jti`s are spent (§11.1). Required: pass `false` only where replay does not matter
   * (the CLI's offline `verify`).
   */
  replayCache: ReplayCache | false;
  /** The access token presented with the proof: `ath` becomes required and must match (§4.3 (12)). */
  accessToken?: string;
  /** The thumbprint the proof's key must have (`cnf.jkt` of a token, `dpop_jkt` of a code). */
  jkt?: string;
  /** Error name for a `jkt` mismatch: `invalid_token` at a resource server (§7.1). Default `invalid_dpop_proof`. */
  jktError?: 'invalid_token' | 'invalid_dpop_proof';
  /** Allowed algorithms (default: every asymmetric one dpopkit supports). */
  algs?: readonly string[];
  /** When set, a nonce from this source is required (§8, §9); a valid one stands in for the iat window. */
  nonce?: NonceSource;
  /** Seconds a proof may be old (default 300). */
  maxAge?: number;
  /** Seconds a proof may be ahead of the server clock (default 5). */
  maxFuture?: number;
  /** Server time in epoch seconds (default: now). */
  now?: number;
}

export interface VerifiedProof {
  /** RFC 7638 thumbprint of the proof's key (compare with `cnf.jkt`). */
  jkt: string;
  jti: string;
  iat: number;
  header: Readonly<ProofHeader>;
  claims: Readonly<ProofClaims>;
  /** The proof's public key (public members only). */
  jwk: Readonly<PublicJwk>;
  /**
   * Until when (epoch seconds) the proof could pass again, so its `jti` must be remembered
   * (§11.1): the end of its `iat` window, counted from its own `iat`, or with server nonces the
   * end of its nonce's life. What a caller that spends the `jti` itself passes to the cache.
   */
  replayExpiresAt: number;
}

export interface ProofVerifierOptions {
  /**
   * How many distinct protected headers (one per client key) to remember (default 4096): a
   * header seen before costs no JSON parsing, key import or thumbprint hashing.
   */
  headerCacheSize?: number;
  /**
   * Check signatures off the JavaScript thread (Node: on libuv's threadpool), so one process
   * verifies on every core while its event loop serves other requests. Same CPU per proof,
   * higher throughput on a machine with cores to spare; a little latency per proof. Default
   * `false` (each verification runs inline); the resource and authorization servers turn it on
   * (`dpop.threadpool`). Ignored where the crypto backend is asynchronous anyway (WebCrypto).
   */
  threadpool?: boolean;
}

/** A verifier with its own caches; see {@link createProofVerifier}. */
export interface ProofVerifier {
  /** {@link verifyProof}, with this verifier's header cache. */
  verify(proof: string | readonly string[] | null | undefined, expectations: ProofExpectations): Promise<VerifiedProof>;
}

/** What a protected-header segment resolves to, computed once per distinct header. */
interface HeaderEntry {
  /** The exact segment this entry was computed from; a hit must equal it in full. */
  segment: string;
  header: Readonly<ProofHeader>;
  jwk: Readonly<PublicJwk>;
  key: unknown;
  jkt: string;
}

/** The state one verifier owns; `verifyProof` runs with none. */
interface VerifierState {
  headers: BoundedCache<number, HeaderEntry>;
  /** Allow-lists seen before, as sets (keyed by the caller's array). */
  algSets: WeakMap<readonly string[], ReadonlySet<string>>;
  /** `ath` of the access tokens presented lately (§4.3 (12)): token → base64url SHA-256. */
  athByToken: BoundedCache<string, string>;
  /** Signatures checked off the JavaScript thread ({@link ProofVerifierOptions.threadpool}). */
  offThread: boolean;
}

/** How many access tokens' hashes a verifier remembers. */
const ATH_CACHE_SIZE = 1024;

/** The `ath` a proof sent with `accessToken` must carry; remembered by a verifier. */
async function hashToken(accessToken: string, state: VerifierState | undefined): Promise<string> {
  const ath = await accessTokenHash(accessToken);
  state?.athByToken.set(accessToken, ath);
  return ath;
}

/**
 * A 32-bit key for a header segment: its length and 16 characters spread across it (key material
 * sits in different places for EC and RSA keys), mixed into a small integer. An integer key skips
 * hashing a 200–600 character string (or building a string key) on every lookup; a hit is still
 * confirmed by comparing the whole segment, so a collision only costs a cache miss.
 */
function fingerprint(segment: string): number {
  const n = segment.length;
  let key = n;
  for (let i = 1; i <= 16; i++) key = Math.imul(key ^ segment.charCodeAt(((n * i) / 17) | 0), 0x9e3779b1);
  return key;
}

function cachedHeader(state: VerifierState, segment: string): HeaderEntry | undefined {
  const entry = state.headers.get(fingerprint(segment));
  return entry !== undefined && entry.segment === segment ? entry : undefined;
}

const DEFAULT_ALG_SET: ReadonlySet<string> = new Set(DEFAULT_ALGORITHMS);

/** Parse, check and import a protected header (a cache miss); cached by its exact base64url segment. */
async function resolveHeader(segment: string, state: VerifierState | undefined): Promise<HeaderEntry> {
  const header = decodeJsonSegment(segment, 'header');
  checkHeaderShape(header);
  checkTyp(header);
  checkAlg(header.alg, DEFAULT_ALG_SET);
  const jwk = Object.freeze(checkPublicJwk(header.jwk, header.alg));
  let key: unknown;
  try {
    key = await backend.importPublicJwk(jwk, header.alg);
  } catch (cause) {
    if (cause instanceof DPoPError) throw cause; // the backend's weak-key refusal keeps its reason
    throw new DPoPError('invalid_dpop_proof', 'bad_jwk', 'the "jwk" header parameter is not a valid public key', { cause });
  }
  const entry: HeaderEntry = { segment, header: Object.freeze(header) as ProofHeader, jwk, key, jkt: await jwkThumbprint(jwk) };
  if (state && state.headers.capacity > 0) state.headers.set(fingerprint(segment), entry);
  return entry;
}

function allowedAlgs(algs: readonly string[] | undefined, state: VerifierState | undefined): ReadonlySet<string> {
  if (!algs) return DEFAULT_ALG_SET;
  if (!state) return new Set(algs);
  let set = state.algSets.get(algs);
  if (!set) {
    set = new Set(algs);
    state.algSets.set(algs, set);
  }
  return set;
}

/**
 * Create a proof verifier that owns its caches: protected headers seen before (so the hot path,
 * a client seen before, does no JSON parsing of the header, no key import and no thumbprint
 * hashing), the `ath` of the access tokens presented lately, and allow-lists. Each resource server and authorization server creates its own; two
 * verifiers share nothing.
 *
 * @example
 * ```ts
 * const verifier = createProofVerifier();
 * const { jkt } = await verifier.verify(request.headers.get('dpop'), {
 *   method: 'POST', url: 'https://server.example.com/token', replayCache,
 * });
 * ```
 */
export function createProofVerifier(options: ProofVerifierOptions = {}): ProofVerifier {
  const size = options.headerCacheSize ?? 4096;
  if (!Number.isInteger(size) || size < 0) throw invalidArgument('headerCacheSize must be a non-negative integer');
  if (options.threadpool !== undefined && typeof options.threadpool !== 'boolean') throw invalidArgument('threadpool must be a boolean');
  const offThread = options.threadpool === true && backend.verifyCompactOffThread !== undefined;
  const state: VerifierState = { headers: new BoundedCache(size), algSets: new WeakMap(), athByToken: new BoundedCache(ATH_CACHE_SIZE), offThread };
  return { verify: (proof, expectations) => verify(proof, expectations, state) };
}

/**
 * Check a DPoP proof against the request it came with (RFC 9449 §4.3).
 *
 * One call, nothing remembered: the header is parsed, its key imported and its thumbprint
 * hashed on every call. A server checking many proofs uses {@link createProofVerifier}, whose
 * verifier remembers the headers it has seen (the resource and authorization servers each
 * create one).
 *
 * @param proof The `DPoP` header value(s): a string, or an array when the framework keeps repeats apart.
 * @returns The proof's key thumbprint, `jti`, `iat`, header and claims.
 * @throws DPoPError with `reason` naming the failed check.
 * @example
 * ```ts
 * const { jkt } = await verifyProof(request.headers.get('dpop'), {
 *   method: 'POST', url: 'https://server.example.com/token', replayCache,
 * });
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export function verifyProof(proof: string | readonly string[] | null | undefined, expectations: ProofExpectations): Promise<VerifiedProof> {
  return verify(proof, expectations, undefined);
}

async function verify(proof: string | readonly string[] | null | undefined, expectations: ProofExpectations, state: VerifierState | undefined): Promise<VerifiedProof> {
  if (expectations === null || typeof expectations !== 'object' || typeof expectations.method !== 'string' || typeof expectations.url !== 'string') {
    throw invalidArgument('verifyProof needs expectations with a method and a url');
  }
  if (expectations.replayCache === undefined) throw invalidArgument('verifyProof needs a replayCache (or replayCache: false to skip replay checks deliberately)');

  // §4.3 (1)–(2)
  const parts = splitCompact(singleProof(proof));
  // §4.3 (4)–(7) on the header, cached by segment; the allow-list is applied every time.
  const entry = (state && cachedHeader(state, parts.header)) || (await resolveHeader(parts.header, state));
  checkAlg(entry.header.alg, allowedAlgs(expectations.algs, state));
  // §4.3 (3)
  const claims = checkClaimTypes(decodeJsonSegment(parts.payload, 'payload'));
  // §4.3 (6)
  const verified = state?.offThread
    ? backend.verifyCompactOffThread!(entry.header.alg, entry.key, parts.signingInput, parts.signature)
    : backend.verifyCompact(entry.header.alg, entry.key, parts.signingInput, parts.signature);
  // Node answers synchronously: skip the microtask an `await` would cost on the hot path.
  checkSignature(typeof verified === 'boolean' ? verified : await verified);
  // §4.3 (8)–(9)
  checkHtm(claims, expectations.method);
  checkHtu(claims, expectations.url);
  // §4.3 (12)
  if (expectations.accessToken !== undefined) {
    // A client presents one token with many proofs: its hash is remembered (no await on a hit).
    const known = state?.athByToken.get(expectations.accessToken);
    checkAth(claims, known ?? (await hashToken(expectations.accessToken, state)));
  }
  if (expectations.jkt !== undefined) checkJkt(entry.jkt, expectations.jkt, expectations.jktError);

  const now = expectations.now ?? Date.now() / 1000;
  const maxAge = expectations.maxAge ?? 300;
  // §4.3 (10)–(11): a valid server nonce carries the server's time and replaces the iat window.
  let expiresAt: number;
  if (expectations.nonce) {
    expiresAt = await checkNonce(claims, expectations.nonce, now);
  } else {
    checkIat(claims, now, { maxAge, maxFuture: expectations.maxFuture ?? 5 });
    // The proof stops passing the window maxAge seconds after its own iat (never "now").
    expiresAt = claims.iat + maxAge + 1;
  }

  // §11.1: spend the jti last, atomically.
  if (expectations.replayCache) {
    const spent = spendJti(expectations.replayCache, entry.jkt, claims.jti, expiresAt);
    if (spent) await spent;
  }

  return { jkt: entry.jkt, jti: claims.jti, iat: claims.iat, header: entry.header, claims, jwk: entry.jwk, replayExpiresAt: expiresAt };
}

/** §4.3 (10): `nonce` present and currently valid; otherwise `use_dpop_nonce` with a fresh one (§8, §9). */
async function checkNonce(claims: ProofClaims, source: NonceSource, now: number): Promise<number> {
  if (claims.nonce === undefined) {
    throw new DPoPError('use_dpop_nonce', 'nonce_missing', 'the server requires a nonce in the DPoP proof', { nonce: await source.current(now) });
  }
  const result = await source.check(claims.nonce, now);
  if (!result.valid) {
    // A stale nonce is use_dpop_nonce, never invalid_dpop_proof (draft-dpop #91).
    throw new DPoPError('use_dpop_nonce', 'nonce_invalid', 'the DPoP proof nonce is stale or unknown; use the new one', { nonce: await source.current(now) });
  }
  return result.expiresAt + 1;
}

/**
 * §11.1 for a proof verified with `replayCache: false`: spend its `jti` now, exactly as
 * `verifyProof` would have (`replayed`, or `replay_cache_full` / `replay_cache_unavailable`
 * failing closed). For a server that must know more about the request before a proof may be
 * spent (the authorization server authenticates the client first).
 */
export async function spendProofJti(cache: ReplayCache, proof: VerifiedProof): Promise<void> {
  await spendJti(cache, proof.jkt, proof.jti, proof.replayExpiresAt);
}

/**
 * §11.1: record (jkt, jti) once; a second use is a replay. A failing store fails closed.
 * Returns a promise only when the cache answers asynchronously (Redis, SQL).
 */
function spendJti(cache: ReplayCache, jkt: string, jti: string, expiresAt: number): Promise<void> | undefined {
  let answer: boolean | Promise<boolean>;
  try {
    answer = cache.reserve(replayKey(jkt, jti), expiresAt);
  } catch (err) {
    throw unavailable(err);
  }
  if (typeof answer === 'boolean') return checkFresh(answer);
  return answer.then(checkFresh, (err: unknown) => {
    throw unavailable(err);
  });
}

function checkFresh(fresh: boolean): undefined {
  if (!fresh) throw new DPoPError('invalid_dpop_proof', 'replayed', 'the DPoP proof has been used before (its jti was seen)');
  return undefined;
}

function unavailable(err: unknown): DPoPError {
  if (err instanceof DPoPError) return err;
  return new DPoPError('temporarily_unavailable', 'replay_cache_unavailable', 'the replay cache cannot be reached; the proof was not accepted', { cause: err });
}
