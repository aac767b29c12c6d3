/**
 * JSON over HTTP to the authorization server (metadata, JWKS, introspection), bounded in time
 * and size: a slow or hostile peer costs a timeout, never a crash or unbounded memory.
 *
 * @module
 */
import type { FetchLike } from './types.js';

/** Largest JSON document read from a peer. */
const MAX_BYTES = 512 * 1024;

export class PeerError extends Error {
  override readonly name = 'PeerError';
  constructor(message: string, readonly status?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Fetch `url` and parse a JSON object; throws `PeerError` on any network, status or parse failure. */
export async function fetchJson(fetchFn: FetchLike, url: string, init: RequestInit = {}, timeoutMs = 5000): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetchFn(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json', ...(init.headers as Record<string, string> | undefined) } });
  } catch (cause) {
    throw new PeerError(`${url}: ${(cause as Error)?.message ?? 'request failed'}`, undefined, { cause });
  }
  let text: string;
  try {
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > MAX_BYTES) throw new PeerError(`${url}: response too large`);
    text = await response.text();
  } catch (cause) {
    if (cause instanceof PeerError) throw cause;
    throw new PeerError(`${url}: reading the response failed`, response.status, { cause });
  }
  if (response.status !== 200) throw new PeerError(`${url}: HTTP ${response.status}`, response.status);
  if (text.length > MAX_BYTES) throw new PeerError(`${url}: response too large`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new PeerError(`${url}: response is not JSON`, response.status, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PeerError(`${url}: response is not a JSON object`, response.status);
  return value as Record<string, unknown>;
}
