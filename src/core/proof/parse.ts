/**
 * Splitting and decoding a proof (RFC 9449 §4.3 (1)–(2)), with hard limits on input size
 * (§11.1: resource exhaustion), and the cache of protected headers that keeps the hot path free
 * of JSON parsing, key import and thumbprint hashing (DESIGN: "cache by the exact protected
 * header segment").
 *
 * @module
 */
import { backend } from '#crypto';
import { invalidProof } from '../errors.js';

/** A proof longer than this is refused unread (RSA-4096 proofs are about 1.5 KiB). */
export const MAX_PROOF_LENGTH = 8192;
/** `typ`, `alg`, `jwk`, and room for a few harmless extras (`kid`, …). */
export const MAX_HEADER_MEMBERS = 8;
/** Nesting depth of objects and arrays in header or payload JSON. */
export const MAX_JSON_DEPTH = 5;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The three parts of a compact JWS, and the signing input. */
export interface CompactParts {
  header: string;
  payload: string;
  signature: string;
  /** `header.payload`, the bytes the signature covers (RFC 7515 §5.2). */
  signingInput: string;
}

/** RFC 9449 §4.3 (1): exactly one `DPoP` header value. */
export function singleProof(value: string | readonly string[] | null | undefined): string {
  if (value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)) {
    throw invalidProof('missing_proof', 'the request has no DPoP header');
  }
  if (Array.isArray(value)) {
    if (value.length > 1) throw invalidProof('multiple_proofs', `the request has ${value.length} DPoP headers; exactly one is allowed`);
    value = value[0] as string;
  }
  if (typeof value !== 'string') throw invalidProof('malformed', 'the DPoP header value must be a string');
  if (value.length > MAX_PROOF_LENGTH) {
    throw invalidProof('proof_too_large', `the DPoP proof is ${value.length} characters long; at most ${MAX_PROOF_LENGTH} are accepted`);
  }
  // Several header fields arrive joined by ", " (RFC 9110 §5.3); a JWS never contains a comma.
  if (value.includes(',')) throw invalidProof('multiple_proofs', 'the request has more than one DPoP header value; exactly one is allowed');
  return value.trim();
}

/** RFC 9449 §4.3 (2): one well-formed compact JWS (three segments; see below for base64url). */
export function splitCompact(proof: string): CompactParts {
  const first = proof.indexOf('.');
  const second = first === -1 ? -1 : proof.indexOf('.', first + 1);
  if (first === -1 || second === -1 || proof.indexOf('.', second + 1) !== -1) {
    throw invalidProof('malformed', 'the DPoP proof is not a compact JWS (three dot-separated parts)');
  }
  const parts: CompactParts = {
    header: proof.slice(0, first),
    payload: proof.slice(first + 1, second),
    signature: proof.slice(second + 1),
    signingInput: proof.slice(0, second),
  };
  // The header and payload are checked where they are decoded (decodeJsonSegment), or matched
  // against a header decoded before; only the signature is never decoded as text.
  if (!isBase64url(parts.signature)) throw invalidProof('malformed', 'the DPoP proof signature is not canonical base64url');
  return parts;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Canonical base64url without padding (RFC 4648 §5, §3.5): a length of 1 mod 4 encodes nothing,
 * and the bits left over in the last character must be zero, so that one byte string has exactly
 * one text form (no signature malleability through the encoding).
 */
export function isBase64url(segment: string): boolean {
  const rest = segment.length % 4;
  if (segment.length === 0 || rest === 1 || !BASE64URL.test(segment)) return false;
  if (rest === 0) return true;
  const last = ALPHABET.indexOf(segment[segment.length - 1]!);
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

/**
 * Decode a base64url segment holding a JSON object, refusing deep nesting before `JSON.parse`
 * sees it.
 */
export function decodeJsonSegment(segment: string, what: 'header' | 'payload'): Record<string, unknown> {
  if (!isBase64url(segment)) throw invalidProof('malformed', `the DPoP proof ${what} is not base64url`);
  let text: string;
  try {
    text = backend.base64urlDecodeText(segment);
  } catch {
    throw invalidProof('malformed', `the DPoP proof ${what} is not UTF-8`);
  }
  // Flat objects (the usual proof) have one "{" and no "[": no need to scan for depth.
  if ((text.indexOf('{', 1) !== -1 || text.indexOf('[') !== -1) && jsonDepth(text) > MAX_JSON_DEPTH) {
    throw invalidProof('json_too_deep', `the DPoP proof ${what} nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidProof('malformed', `the DPoP proof ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidProof('malformed', `the DPoP proof ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Deepest nesting of `{`/`[` outside strings; a single pass over the text. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) max = depth;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}

/**
 * A small bounded map, oldest entry dropped first. Only for *caches* of derived values (header
 * parsing, key import): never for security state such as the replay cache.
 */
export class BoundedCache<K, V> {
  readonly #map = new Map<K, V>();
  constructor(readonly capacity: number) {}
  get(key: K): V | undefined {
    return this.#map.get(key);
  }
  set(key: K, value: V): void {
    if (this.#map.size >= this.capacity) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, value);
  }
  get size(): number {
    return this.#map.size;
  }
  clear(): void {
    this.#map.clear();
  }
}
