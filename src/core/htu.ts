/**
 * The `htu` rule (RFC 9449 §4.3 (9)): the proof's `htu` must equal the request's URI, ignoring
 * query and fragment, after RFC 3986 §6.2.2 syntax-based normalisation (case of scheme and host,
 * case of percent-encodings, unreserved characters decoded) and §6.2.3 scheme-based
 * normalisation (default port dropped, empty path is "/"). Dot segments (§6.2.2.3) are not
 * normalised away: a URI whose path has them matches only itself, character for character.
 *
 * @module
 */

/** RFC 3986 §2.3 unreserved characters: percent-encodings of these are decoded (§6.2.2.2). */
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const PERCENT_ENCODED = /%([0-9A-Fa-f]{2})/g;
const HTTP_URI = /^https?:\/\/[^/?#]/i;

/** The URI without query and fragment (RFC 9449 §4.2 `htu`). */
export function stripQueryAndFragment(uri: string): string {
  let end = uri.length;
  const hash = uri.indexOf('#');
  if (hash !== -1) end = hash;
  const query = uri.indexOf('?');
  if (query !== -1 && query < end) end = query;
  return end === uri.length ? uri : uri.slice(0, end);
}

/**
 * A dot segment in the path, in any spelling ("." / "..", dots raw or "%2e", "\\" as a
 * separator): such a URI is never normalised into a match. Routers match raw paths, so
 * "/api/../admin" is not "/admin" to them; a proof signed for one must not pass for the other.
 */
const DOT_SEGMENT_PATH = /^[^:]*:\/\/[^/\\?#]*[^?#]*?[/\\](?:\.|%2e){1,2}(?:[/\\;?#]|$)/i;

/**
 * Normalise an http(s) URI for comparison as RFC 9449 §4.3 (9) describes, or return `null` when
 * it is not an absolute http(s) URI, or when its path has dot segments (removing them, RFC 3986
 * §6.2.2.3, would make it equal to a URI the server's router treats as another resource). User
 * information is dropped: it names no resource.
 */
export function normalizeHtu(uri: string): string | null {
  if (DOT_SEGMENT_PATH.test(uri)) return null;
  let url: URL;
  try {
    // WHATWG URL parsing lower-cases scheme and host, drops the default port and turns an
    // empty path into "/" (RFC 3986 §6.2.2.1, §6.2.3); dot segments were refused above.
    url = new URL(stripQueryAndFragment(uri));
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  // RFC 3986 §6.2.2.1–6.2.2.2: upper-case percent-encodings, decode unreserved ones.
  const path = url.pathname.replace(PERCENT_ENCODED, (_, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * Whether a proof's `htu` matches the request URI. The common case (the client signed exactly
 * the URI the server sees) costs one string comparison; only a mismatch pays for normalising.
 */
export function htuMatches(claimed: string, requestUri: string): boolean {
  const request = stripQueryAndFragment(requestUri);
  // Identical strings: only the scheme needs checking (the request URI is the server's own).
  if (stripQueryAndFragment(claimed) === request) return HTTP_URI.test(request);
  const a = normalizeHtu(claimed);
  return a !== null && a === normalizeHtu(request);
}

/** Expected and received URIs after normalisation, for logs and the CLI (never sent to clients). */
export function explainHtuMismatch(claimed: string, requestUri: string): { expected: string; received: string; expectedNormalized: string | null; receivedNormalized: string | null } {
  return {
    expected: stripQueryAndFragment(requestUri),
    received: claimed,
    expectedNormalized: normalizeHtu(requestUri),
    receivedNormalized: normalizeHtu(claimed),
  };
}
