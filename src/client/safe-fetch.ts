/**
 * Fetching what a server names: a client that starts from nothing but an API's URL follows
 * URLs it did not choose (a `resource_metadata` challenge parameter, `authorization_servers`, a
 * `registration_endpoint`). Each such fetch is bounded here, the same way:
 *
 * - https only, except to loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`) for development;
 * - no redirects (a 3xx is an error: a document must be served where it was named);
 * - a size cap on the body (default 256 KiB), read in chunks and cut off past it;
 * - a timeout (default 10 s) covering the whole exchange, body included.
 *
 * No Node-only API: it runs in browsers, Node 20 and edge runtimes.
 *
 * @module
 */
import { readCapped } from '../core/read-capped.js';
import { OAuthResponseError } from './oauth/errors.js';

/** Limits of {@link createSafeFetch}. */
export interface SafeFetchOptions {
  /** The `fetch` to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Milliseconds for the whole exchange, body included (default 10 000). */
  timeoutMs?: number;
  /** Largest body accepted, in bytes (default 256 KiB). */
  maxBytes?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BYTES = 256 * 1024;

/** Whether `hostname` (as `URL.hostname` gives it) is a loopback host. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The URL, if a client may fetch it: https, or http to a loopback host.
 *
 * @throws OAuthResponseError `insecure_url` (not https, not loopback) or `invalid_url`.
 */
export function checkFetchableUrl(input: string | URL, what = 'the URL'): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new OAuthResponseError('invalid_url', { message: `${what} ${JSON.stringify(String(input))} is not an absolute URL` });
  }
  if (url.username || url.password) throw new OAuthResponseError('insecure_url', { message: `${what} ${url.origin} carries user information` });
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  throw new OAuthResponseError('insecure_url', { message: `${what} ${JSON.stringify(url.href)} is not https (plain http is allowed only to loopback hosts)` });
}

/**
 * A `fetch` with the limits above. The response it returns has its body read already (at most
 * `maxBytes`), so the caller's `json()`/`text()` cannot hang or grow without bound.
 *
 * @example
 * ```ts
 * const safe = createSafeFetch({ timeoutMs: 5000 });
 * const metadata = await discover(issuer, { fetch: safe });
 * ```
 */
export function createSafeFetch(options: SafeFetchOptions = {}): typeof fetch {
  const send = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const safeFetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const target = typeof input === 'string' || input instanceof URL ? input : input.url;
    const url = checkFetchableUrl(target);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const abortedBy = init.signal;
    const onAbort = () => controller.abort();
    abortedBy?.addEventListener('abort', onAbort, { once: true });
    try {
      let response: Response;
      try {
        response = await send(input instanceof Request ? input : url.href, { ...init, redirect: 'manual', signal: controller.signal });
      } catch (cause) {
        const timedOut = controller.signal.aborted && !abortedBy?.aborted;
        throw new OAuthResponseError('network_error', { message: timedOut ? `${url.href} did not answer within ${timeoutMs} ms` : `cannot reach ${url.href}: ${(cause as Error)?.message ?? String(cause)}`, cause });
      }
      // Browsers answer a manual redirect with an opaque response (type "opaqueredirect", status 0).
      if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
        await response.body?.cancel().catch(() => undefined);
        const location = response.headers.get('location');
        throw new OAuthResponseError('redirect_refused', { response, message: `${url.href} redirected${location ? ` to ${location}` : ''}; documents must be served where they are named, redirects are not followed` });
      }
      const body = await readBody(response, maxBytes, url.href, controller.signal, timeoutMs);
      return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    } finally {
      clearTimeout(timer);
      abortedBy?.removeEventListener('abort', onAbort);
    }
  };
  return safeFetch as typeof fetch;
}

/** The body, at most `maxBytes` of it (a longer one is an error, not truncated). */
async function readBody(response: Response, maxBytes: number, url: string, signal: AbortSignal, timeoutMs: number): Promise<Uint8Array<ArrayBuffer> | null> {
  if (response.status === 204 || response.status === 304 || !response.body) return null;
  const length = response.headers.get('content-length');
  if (length !== null && Number(length) > maxBytes) {
    await response.body.cancel().catch(() => undefined);
    throw new OAuthResponseError('response_too_large', { response, message: `${url} answered ${length} bytes, more than the ${maxBytes} accepted` });
  }
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  try {
    bytes = await readCapped(response.body, maxBytes);
  } catch (cause) {
    throw new OAuthResponseError('network_error', { message: signal.aborted ? `${url} did not finish its answer within ${timeoutMs} ms` : `${url}: the answer was cut off`, cause });
  }
  if (bytes === undefined) throw new OAuthResponseError('response_too_large', { response, message: `${url} answered more than the ${maxBytes} bytes accepted` });
  return bytes;
}
