/**
 * The request URI a proof's `htu` is compared with (RFC 9449 §4.3 (9)), rebuilt under an
 * explicit policy:
 *
 * - `publicUrl`: the API's public base URL, path prefix included (an API mounted under a
 *   gateway path sees `/items` while clients call `https://gw.example.com/svc/items`). When set,
 *   Host and forwarded headers are not used at all.
 * - otherwise the `Host` header (or the authority of an absolute-form target), whose grammar is
 *   checked BEFORE any URL is built from it: a Host such as `api.example.com/other?` would
 *   otherwise push the real path into the query, where `htu` comparison ignores it, and a proof
 *   stolen from another endpoint would match (auth0 node-oauth2-jwt-bearer #244).
 * - `trustProxy.addresses`: `Forwarded` (RFC 7239) or `X-Forwarded-Proto`/`X-Forwarded-Host`
 *   are honoured only when the immediate peer is one of these addresses; the last element is
 *   used, the one the trusted proxy itself added.
 * - `allowedHosts`: when set, any other host is refused.
 *
 * @module
 */
import { invalidRequest } from './errors.js';
import { headerValues } from './headers.js';
import type { RequestLike } from './types.js';

export interface RequestUrlOptions {
  /** Public base URL of the API, e.g. `https://api.example.com/gateway/orders` (no query). */
  publicUrl?: string;
  /** Proxies whose forwarded headers are believed: exact IPv4/IPv6 addresses or IPv4 CIDR blocks. */
  trustProxy?: { addresses: readonly string[] };
  /** Hosts (`name` or `name:port`) this API answers for; others get 400 `invalid_request`. */
  allowedHosts?: readonly string[];
}

/** Resolves the absolute URI of a request, or throws `ResourceServerError` (400). */
export type UrlResolver = (request: RequestLike) => string;

/**
 * RFC 3986 §3.2.2 host (DNS name, IPv4, or bracketed IPv6) with an optional port. Stricter than
 * reg-name: no percent-encoding, no sub-delims, no "/", "?", "#", "@" or spaces. Underscores are
 * allowed in labels (container and service names use them).
 */
const HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::([0-9]{1,5}))?$/;

/** Validate a raw Host value; returns it lower-cased. */
export function checkHost(raw: string, what = 'Host'): string {
  const match = raw.length <= 261 ? HOST.exec(raw) : null;
  if (!match || (match[1] !== undefined && Number(match[1]) > 65535)) {
    throw invalidRequest('bad_host', `the ${what} header is not a valid host[:port]`, { host: raw });
  }
  return raw.toLowerCase();
}

const ABSOLUTE = /^(https?):\/\/([^/?#]*)(.*)$/i;

/** Path of a request target, query and fragment cut (RFC 9449 §4.3 (9) ignores them). */
function pathOf(rest: string): string {
  let end = rest.length;
  const q = rest.indexOf('?');
  if (q !== -1) end = q;
  const h = rest.indexOf('#');
  if (h !== -1 && h < end) end = h;
  const path = rest.slice(0, end);
  return path === '' ? '/' : path;
}

function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** Strip an IPv4-mapped IPv6 prefix and brackets, lower-case. */
function normalizeAddress(address: string): string {
  let a = address.trim().toLowerCase();
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  if (a.startsWith('::ffff:') && parseIPv4(a.slice(7)) !== undefined) a = a.slice(7);
  return a;
}

/** A predicate for "the immediate peer is a trusted proxy". */
function addressMatcher(addresses: readonly string[]): (address: string | undefined) => boolean {
  const exact = new Set<string>();
  const blocks: Array<{ base: number; mask: number }> = [];
  for (const entry of addresses) {
    const slash = entry.indexOf('/');
    if (slash === -1) {
      exact.add(normalizeAddress(entry));
      continue;
    }
    const base = parseIPv4(entry.slice(0, slash));
    const bits = Number(entry.slice(slash + 1));
    if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) {
      throw new TypeError(`trustProxy address ${JSON.stringify(entry)}: only exact addresses and IPv4 CIDR blocks are supported`);
    }
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    blocks.push({ base: (base & mask) >>> 0, mask });
  }
  return (address) => {
    if (address === undefined) return false;
    const a = normalizeAddress(address);
    if (exact.has(a)) return true;
    const v4 = parseIPv4(a);
    return v4 !== undefined && blocks.some((b) => ((v4 & b.mask) >>> 0) === b.base);
  };
}

/** `proto` and `host` of the last element of RFC 7239 `Forwarded` values. */
function parseForwarded(values: string[]): { proto?: string; host?: string } | undefined {
  const elements = values.join(',').split(',').map((e) => e.trim()).filter((e) => e.length > 0);
  const last = elements[elements.length - 1];
  if (last === undefined) return undefined;
  const out: { proto?: string; host?: string } = {};
  for (const pair of last.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim().toLowerCase();
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name === 'proto') out.proto = value;
    else if (name === 'host') out.host = value;
  }
  return out;
}

function lastListValue(values: string[]): string | undefined {
  const items = values.join(',').split(',').map((v) => v.trim()).filter((v) => v.length > 0);
  return items[items.length - 1];
}

function checkProto(raw: string): 'http' | 'https' {
  const proto = raw.toLowerCase();
  if (proto !== 'http' && proto !== 'https') throw invalidRequest('bad_host', 'the forwarded protocol is neither http nor https', { proto: raw });
  return proto;
}

/**
 * Build the URL resolver for a set of options (validated once, here).
 *
 * @example
 * ```ts
 * const resolve = createUrlResolver({ trustProxy: { addresses: ['10.0.0.0/8'] } });
 * resolve({ method: 'GET', url: '/items', headers: { host: 'api.example.com' } }); // 'http://api.example.com/items'
 * ```
 */
export function createUrlResolver(options: RequestUrlOptions = {}): UrlResolver {
  let base: string | undefined;
  if (options.publicUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.publicUrl);
    } catch {
      throw new TypeError(`publicUrl ${JSON.stringify(options.publicUrl)} is not an absolute URL`);
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username) {
      throw new TypeError('publicUrl must be an http(s) URL without query, fragment or user information');
    }
    base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  }
  const trusted = options.trustProxy ? addressMatcher(options.trustProxy.addresses) : undefined;
  const allowed = options.allowedHosts ? new Set(options.allowedHosts.map((h) => h.toLowerCase())) : undefined;

  return (request) => {
    let scheme: string = request.protocol ?? 'http';
    let authority: string | undefined;
    let path: string;
    const target = request.url;
    const absolute = ABSOLUTE.exec(target);
    const hostHeaders = headerValues(request.headers, 'host');
    if (hostHeaders.length > 1) throw invalidRequest('bad_host', 'the request has more than one Host header');
    if (absolute) {
      scheme = absolute[1]!.toLowerCase();
      authority = checkHost(absolute[2]!, 'request-target authority');
      path = pathOf(absolute[3]!);
      // A runtime that built this URL from Host must have used the very same Host (no laundering).
      const host = hostHeaders[0];
      if (host !== undefined && checkHost(host) !== authority) {
        throw invalidRequest('host_mismatch', 'the Host header does not match the request URL', { host, url: target });
      }
    } else {
      if (!target.startsWith('/')) throw invalidRequest('bad_request_target', 'the request target is not an absolute path', { url: target });
      path = pathOf(target);
      const host = hostHeaders[0];
      if (base === undefined) {
        if (host === undefined) throw invalidRequest('bad_host', 'the request has no Host header');
        authority = checkHost(host);
      }
    }
    if (base !== undefined) return `${base}${path}`;

    if (trusted && trusted(request.remoteAddress)) {
      const forwarded = headerValues(request.headers, 'forwarded');
      const fw = forwarded.length ? parseForwarded(forwarded) : undefined;
      const proto = fw?.proto ?? lastListValue(headerValues(request.headers, 'x-forwarded-proto'));
      const host = fw?.host ?? lastListValue(headerValues(request.headers, 'x-forwarded-host'));
      if (proto !== undefined) scheme = checkProto(proto);
      if (host !== undefined) authority = checkHost(host, 'forwarded host');
    }
    const effective = authority!;
    if (allowed) {
      const hostname = effective.startsWith('[') ? effective.slice(0, effective.indexOf(']') + 1) : effective.split(':')[0]!;
      if (!allowed.has(effective) && !allowed.has(hostname)) {
        throw invalidRequest('host_not_allowed', 'this API does not answer for that host', { host: effective });
      }
    }
    return `${scheme}://${effective}${path}`;
  };
}

