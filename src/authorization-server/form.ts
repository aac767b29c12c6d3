/**
 * Reading `application/x-www-form-urlencoded` request bodies strictly (RFC 6749 §3.1, §3.2):
 * the right content type, a size cap, no repeated parameters, and empty values treated as absent.
 *
 * @module
 */
import { readCapped } from '../core/read-capped.js';
import { OAuthError } from './errors.js';
import type { AsRequest } from './as-request.js';

/** Largest form body accepted: token requests are a few hundred bytes; PAR a few KiB. */
export const MAX_FORM_BYTES = 64 * 1024;

/** Parameters of one request: each name at most once (RFC 6749 §3.1). */
export type FormParams = ReadonlyMap<string, string>;

/** 413: a body past `max` bytes, however the transport found out. */
export function bodyTooLarge(max: number): OAuthError {
  return new OAuthError('invalid_request', 'body_too_large', `the request body is larger than ${max} bytes`, { status: 413 });
}

/**
 * The bytes of a body, at most `max` of them, refusing (413) past it even without
 * `Content-Length`: every endpoint that reads a body (forms here, JSON at registration) reads it
 * through this.
 */
export async function readBodyBytes(request: AsRequest, max: number): Promise<Uint8Array> {
  const length = request.headers.get('content-length');
  if (length !== null && Number(length) > max) {
    throw bodyTooLarge(max);
  }
  let bytes: Uint8Array | undefined;
  try {
    // A transport that reads the body itself (the node adapter) enforces `max` there.
    if (request.readBody) return await request.readBody(max);
    if (!request.body) return new Uint8Array(0);
    bytes = await readCapped(request.body, max);
  } catch (err) {
    // A transport's own refusal (the node adapter's size limit) stands as it is.
    if (err instanceof OAuthError) throw err;
    throw new OAuthError('invalid_request', 'body_unreadable', 'the request body could not be read');
  }
  if (bytes === undefined) throw bodyTooLarge(max);
  return bytes;
}

/** A body of at most `max` bytes as UTF-8 text. */
async function readLimited(request: AsRequest, max: number): Promise<string> {
  return decodeUtf8(await readBodyBytes(request, max));
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new OAuthError('invalid_request', 'body_not_utf8', 'the request body is not valid UTF-8');
  }
}

/**
 * Parse a form body. RFC 6749 §3.2 requires `application/x-www-form-urlencoded`; §3.1 says
 * parameters MUST NOT be repeated and that a parameter without a value is treated as omitted.
 *
 * @throws OAuthError `invalid_request` (400, or 413 for a body over the cap).
 */
export async function readForm(request: AsRequest, max = MAX_FORM_BYTES): Promise<FormParams> {
  const type = request.headers.get('content-type');
  const mediaType = type?.split(';', 1)[0]?.trim().toLowerCase();
  if (mediaType !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'unsupported_content_type', 'the request body must be application/x-www-form-urlencoded (RFC 6749 §3.2)');
  }
  const text = await readLimited(request, max);
  return parseParams(new URLSearchParams(text));
}

/**
 * Parameters an extension lets repeat: RFC 8707 §2 `resource`. `get` gives the first value,
 * {@link getAll} every one.
 */
const REPEATABLE = new Set(['resource']);
const repeated = new WeakMap<FormParams, Map<string, string[]>>();

/** Every value of a repeatable parameter (RFC 8707 `resource`), in order; of any other, its one value. */
export function getAll(params: FormParams, name: string): string[] {
  const all = repeated.get(params)?.get(name);
  if (all) return [...all];
  const value = params.get(name);
  return value === undefined ? [] : [value];
}

/** Apply the RFC 6749 §3.1 rules to already-split parameters (also used for /authorize query strings). */
export function parseParams(search: URLSearchParams): FormParams {
  const params = new Map<string, string>();
  const seen = new Set<string>();
  const many = new Map<string, string[]>();
  for (const [name, value] of search) {
    if (REPEATABLE.has(name)) {
      if (value === '') continue;
      if (!params.has(name)) params.set(name, value);
      many.set(name, [...(many.get(name) ?? []), value]);
      continue;
    }
    if (seen.has(name)) throw new OAuthError('invalid_request', 'duplicate_parameter', `the parameter "${name.slice(0, 64)}" is included more than once (RFC 6749 §3.1)`);
    seen.add(name);
    if (value !== '') params.set(name, value);
  }
  if (many.size > 0) repeated.set(params, many);
  return params;
}

/** A required parameter, or `invalid_request` naming it. */
export function required(params: FormParams, name: string): string {
  const value = params.get(name);
  if (value === undefined) throw new OAuthError('invalid_request', 'missing_parameter', `the "${name}" parameter is missing`);
  return value;
}
