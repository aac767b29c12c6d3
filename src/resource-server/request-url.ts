/**
 * The request URI a proof's `htu` is compared with (RFC 9449 §4.3 (9)), rebuilt under an
 * explicit policy. The resource server must know which origin(s) it serves: a URL built from
 * whatever `Host` a client sends lets a proof made for another API behind the same server be
 * accepted here (auth0 node-oauth2-jwt-bearer #244).
 *
 * - `publicUrl`: the API's public base URL, path prefix included (an API mounted under a
 *   gateway path sees `/items` while clients call `https://gw.example.com/svc/items`). The URL
 *   is always built from it; Host and forwarded headers never change it.
 * - `allowedHosts`: the hosts (`name`, `name:port`) or origins (`https://name[:port]`) this API
 *   answers for. The URL is built from the `Host` header (or the authority of an absolute-form
 *   target, or the trusted proxy's header) and refused when not among them.
 *   `createResourceServer` derives this list from an http(s) `audience` when neither
 *   `publicUrl` nor `allowedHosts` is given.
 * - `dangerouslyTrustHostHeader`: any syntactically valid Host is believed (development only).
 * - `trustProxy: { addresses, header }`: the ONE header family that proxy sets (`forwarded`:
 *   RFC 7239 `Forwarded`; `x-forwarded`: `X-Forwarded-Host`/`-Proto`) is honoured, only when the
 *   immediate peer is one of `addresses`. Any disagreement, within that header or with the other
 *   family (which a proxy that sets only one passes through from the client), is refused.
 *
 * Whatever the policy, the Host grammar is checked BEFORE any URL is built from it (a Host such
 * as `api.example.com/other?` would push the real path into the query, which `htu` comparison
 * ignores), and a path with dot segments or encoded separators is refused rather than
 * normalised: routers match the raw path, so "/api/../hello" would be one resource to the
 * router and another to the `htu` check.
 *
 * @module
 */
import { invalidArgument, type ArgumentErrorCode } from '../core/argument-error.js';
import { proxyMatcher } from '../core/ip-address.js';
import { invalidRequest } from './errors.js';
import { headerValues } from './headers.js';
import type { RequestLike } from './types.js';

/** Which proxy header carries the client-facing host and scheme. */
export type ForwardedHeader = 'forwarded' | 'x-forwarded';

export interface TrustProxyOptions {
  /**
   * The proxy's addresses as the app sees them: exact addresses or CIDR blocks, IPv4 or IPv6
   * (`10.0.0.0/8`, `fd00::/8`). `'*'` trusts every peer: only for an app that cannot be reached
   * except through the proxy.
   */
  addresses: readonly string[];
  /**
   * The header that proxy SETS (overwriting whatever the client sent): `'x-forwarded'` for
   * `X-Forwarded-Host` / `X-Forwarded-Proto` (nginx, Traefik, most load balancers), `'forwarded'`
   * for RFC 7239 `Forwarded`. The other family is never read, and a request whose other family
   * disagrees with it is refused.
   */
  header: ForwardedHeader;
}

export interface RequestUrlOptions {
  /** Public base URL of the API, e.g. `https://api.example.com/gateway/orders` (no query). */
  publicUrl?: string;
  /** Proxies whose forwarded header is believed (not with `publicUrl`, which fixes the URL). */
  trustProxy?: TrustProxyOptions;
  /**
   * Hosts (`name` = any port, `name:port`) or origins (`https://name[:port]` = that scheme and
   * port only) this API answers for; any other is refused (400 `host_not_allowed`).
   */
  allowedHosts?: readonly string[];
  /** Build the URL from any well-formed Host (no allow-list). For local development only. */
  dangerouslyTrustHostHeader?: boolean;
}

/** Resolves the absolute URI of a request, or throws `ResourceServerError` (400). */
export type UrlResolver = (request: RequestLike) => string;

/** Thrown (as a `TypeError`) when the options do not say which origin the API serves. */
export const ORIGIN_REQUIRED = 'ERR_DPOPKIT_ORIGIN_REQUIRED' satisfies ArgumentErrorCode;


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

/** `host[:port]` split; the hostname keeps an IPv6 literal's brackets. */
function splitAuthority(authority: string): { hostname: string; port: string | undefined } {
  const colon = authority.lastIndexOf(':');
  if (colon === -1 || authority.endsWith(']')) return { hostname: authority, port: undefined };
  return { hostname: authority.slice(0, colon), port: authority.slice(colon + 1) };
}

const DEFAULT_PORT: Record<string, string> = { http: '80', https: '443' };

/**
 * A checked, lower-cased authority in canonical form for `scheme`: the port without leading
 * zeros, and left out when it is the scheme's default (RFC 3986 §6.2.3), so "api:443" over
 * https and "api" are one origin.
 */
function canonicalAuthority(checked: string, scheme: string): string {
  const { hostname, port } = splitAuthority(checked);
  if (port === undefined) return hostname;
  const number = String(Number(port));
  return number === DEFAULT_PORT[scheme] ? hostname : `${hostname}:${number}`;
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

/**
 * A dot segment (RFC 3986 §3.3) in any spelling: ".", "..", either dot percent-encoded ("%2e",
 * "%2E", ".%2e", …), also before a ";" path parameter ("..;", which some servers treat as "..").
 */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:[/;]|$)/i;
/** "%2F" / "%5C" (some proxies and routers decode them into separators) and "\" (URL parsers read it as "/"). */
const AMBIGUOUS_SEPARATOR = /%2f|%5c|\\/i;

/**
 * Refuse a path the `htu` check and the application's router could read differently. Express,
 * Fastify and node:http route on the raw path, while URL parsing (and so `htu` normalisation,
 * RFC 3986 §6.2.2.3) removes dot segments: "/api/../hello" is routed under /api but would
 * compare equal to a proof for "/hello". Refusing is the only answer both sides agree on.
 */
function checkPath(path: string): void {
  if (DOT_SEGMENT.test(path)) throw invalidRequest('dot_segment', 'the request path has a dot segment ("." or "..", possibly percent-encoded)', { path });
  if (AMBIGUOUS_SEPARATOR.test(path)) throw invalidRequest('encoded_separator', 'the request path has an encoded "/" or "\\", or a backslash', { path });
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * RFC 7239 §4 `Forwarded`: a list of elements, each `pair *( ";" pair )`, `pair = token "="
 * ( token / quoted-string )`, a parameter at most once per element. Returns the elements'
 * parameters (names lower-cased), or throws 400 `bad_forwarded`.
 */
function parseForwarded(values: string[]): Array<Map<string, string>> {
  const text = values.join(',');
  const bad = (why: string) => invalidRequest('bad_forwarded', `the Forwarded header is malformed (${why})`, { forwarded: text });
  const elements: Array<Map<string, string>> = [];
  let element = new Map<string, string>();
  let i = 0;
  const skipSpace = () => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  while (i < text.length) {
    skipSpace();
    if (text[i] === ',' || text[i] === ';' || i >= text.length) {
      // empty list element or pair (RFC 7230 §7 list syntax allows empty elements)
      if (text[i] === ',') {
        if (element.size) elements.push(element);
        element = new Map();
      }
      i++;
      continue;
    }
    let name = '';
    while (i < text.length && TOKEN_CHAR.test(text[i]!)) name += text[i++];
    if (name === '' || text[i] !== '=') throw bad('expected name=value');
    i++;
    let value = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw bad('unterminated quoted string');
        const c = text[i++]!;
        if (c === '"') break;
        if (c === '\\') {
          if (i >= text.length) throw bad('unterminated quoted string');
          value += text[i++];
        } else value += c;
      }
    } else {
      // RFC 7239 §4 wants "host:port" and IPv6 literals quoted; accept them bare too (common).
      while (i < text.length && (TOKEN_CHAR.test(text[i]!) || text[i] === ':' || text[i] === '[' || text[i] === ']')) value += text[i++];
      if (value === '') throw bad('empty value');
    }
    const key = name.toLowerCase();
    if (element.has(key)) throw bad(`"${key}" twice in one element`);
    element.set(key, value);
    skipSpace();
    if (i < text.length && text[i] !== ';' && text[i] !== ',') throw bad('expected ";" or ","');
  }
  if (element.size) elements.push(element);
  return elements;
}

/** Comma-separated list items, trimmed, empty ones dropped (RFC 9110 §5.6.1). */
function listItems(values: string[]): string[] {
  return values.join(',').split(',').map((v) => v.trim()).filter((v) => v.length > 0);
}

function checkProto(raw: string): 'http' | 'https' {
  const proto = raw.toLowerCase();
  if (proto !== 'http' && proto !== 'https') throw invalidRequest('bad_host', 'the forwarded protocol is neither http nor https', { proto: raw });
  return proto;
}

/** The one value every occurrence agrees on, or 400 `forwarded_conflict`. */
function unanimous(values: string[], what: string): string | undefined {
  const first = values[0];
  if (values.some((v) => v !== first)) throw invalidRequest('forwarded_conflict', `the proxy headers name more than one ${what}`, { [what]: values });
  return first;
}

interface ProxyView {
  proto: string[];
  host: string[];
}

/** Every `proto` and `host` one header family states (raw values, unchecked). */
function readFamily(headers: RequestLike['headers'], family: ForwardedHeader): ProxyView {
  if (family === 'forwarded') {
    const values = headerValues(headers, 'forwarded');
    const view: ProxyView = { proto: [], host: [] };
    if (values.length === 0) return view;
    for (const element of parseForwarded(values)) {
      const proto = element.get('proto');
      const host = element.get('host');
      if (proto !== undefined) view.proto.push(proto);
      if (host !== undefined) view.host.push(host);
    }
    return view;
  }
  return { proto: listItems(headerValues(headers, 'x-forwarded-proto')), host: listItems(headerValues(headers, 'x-forwarded-host')) };
}

/** One entry of `allowedHosts`. */
interface AllowedEntry {
  /** `http` / `https` for an origin entry; any scheme otherwise. */
  scheme: string | undefined;
  hostname: string;
  /** Effective port; `undefined` = any port (a bare `name` entry). */
  port: string | undefined;
}

function parseAllowed(entry: string): AllowedEntry {
  if (typeof entry !== 'string') throw invalidArgument('allowedHosts: every entry must be a string');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw invalidArgument(`allowedHosts entry ${JSON.stringify(entry)} is not a valid origin`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
      throw invalidArgument(`allowedHosts entry ${JSON.stringify(entry)}: an origin is scheme://host[:port] with http or https, nothing else`);
    }
    const scheme = url.protocol.slice(0, -1);
    return { scheme, hostname: url.hostname, port: url.port || DEFAULT_PORT[scheme] };
  }
  let checked: string;
  try {
    checked = checkHost(entry);
  } catch {
    throw invalidArgument(`allowedHosts entry ${JSON.stringify(entry)} is neither host[:port] nor an http(s) origin`);
  }
  const { hostname, port } = splitAuthority(checked);
  return { scheme: undefined, hostname, port: port === undefined ? undefined : String(Number(port)) };
}

function isAllowed(entries: readonly AllowedEntry[], scheme: string, authority: string): boolean {
  const { hostname, port } = splitAuthority(authority);
  const effective = port ?? DEFAULT_PORT[scheme];
  return entries.some((e) => e.hostname === hostname && (e.port === undefined || e.port === effective) && (e.scheme === undefined || e.scheme === scheme));
}

/** The message of the construction error: what to set, with examples. */
export function originRequiredMessage(context: string): string {
  return `${context}: the resource server must know which origin it serves, or it would check proofs against whatever Host a client sends. `
    + 'Set publicUrl (the URL clients call, e.g. "https://api.example.com"), or allowedHosts (e.g. ["api.example.com"]), '
    + 'or give an http(s) URL as audience; for local development only, dangerouslyTrustHostHeader: true.';
}

/**
 * Build the URL resolver for a set of options (validated once, here).
 *
 * @example
 * ```ts
 * const resolve = createUrlResolver({ allowedHosts: ['api.example.com'], trustProxy: { addresses: ['10.0.0.0/8'], header: 'x-forwarded' } });
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
      throw invalidArgument(`publicUrl ${JSON.stringify(options.publicUrl)} is not an absolute URL`);
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username || url.password) {
      throw invalidArgument('publicUrl must be an http(s) URL without query, fragment or user information');
    }
    base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  }
  if (options.allowedHosts !== undefined && (!Array.isArray(options.allowedHosts) || options.allowedHosts.length === 0)) {
    throw invalidArgument('allowedHosts must be a non-empty array of hosts or origins');
  }
  const allowed = options.allowedHosts?.map(parseAllowed);
  const trustAnyHost = options.dangerouslyTrustHostHeader === true;
  if (trustAnyHost && (base !== undefined || allowed !== undefined)) {
    throw invalidArgument('dangerouslyTrustHostHeader contradicts publicUrl / allowedHosts: drop it');
  }
  if (base === undefined && allowed === undefined && !trustAnyHost) throw invalidArgument(originRequiredMessage('createUrlResolver'), ORIGIN_REQUIRED);

  let trusted: ((address: string | undefined) => boolean) | undefined;
  let family: ForwardedHeader | undefined;
  if (options.trustProxy !== undefined) {
    if (base !== undefined) throw invalidArgument('trustProxy has no effect with publicUrl (the URL is fixed): drop one of them');
    const { addresses, header } = options.trustProxy;
    if (header !== 'forwarded' && header !== 'x-forwarded') {
      throw invalidArgument('trustProxy.header must name the header your proxy sets: "x-forwarded" (X-Forwarded-Host/-Proto) or "forwarded" (RFC 7239)');
    }
    if (!Array.isArray(addresses) || addresses.length === 0) throw invalidArgument('trustProxy.addresses must list the proxy\'s addresses');
    trusted = proxyMatcher(addresses, 'trustProxy.addresses');
    family = header;
  }
  const other: ForwardedHeader = family === 'forwarded' ? 'x-forwarded' : 'forwarded';

  return (request) => {
    let scheme: string = request.protocol ?? 'http';
    let authority: string | undefined;
    let path: string;
    const target = request.url;
    const absolute = ABSOLUTE.exec(target);
    const hostHeaders = headerValues(request.headers, 'host');
    if (hostHeaders.length > 1) throw invalidRequest('bad_host', 'the request has more than one Host header');
    const host = hostHeaders[0];
    if (absolute) {
      scheme = absolute[1]!.toLowerCase();
      // An absolute-form target on a connection whose scheme is known must not name another.
      if (request.protocol !== undefined && request.protocol !== scheme) {
        throw invalidRequest('bad_request_target', 'the request target names another scheme than the connection uses', { url: target, protocol: request.protocol });
      }
      authority = checkHost(absolute[2]!, 'request-target authority');
      path = pathOf(absolute[3]!);
      // A runtime that built this URL from Host must have used the very same Host (no laundering).
      if (host !== undefined && canonicalAuthority(checkHost(host), scheme) !== canonicalAuthority(authority, scheme)) {
        throw invalidRequest('host_mismatch', 'the Host header does not match the request URL', { host, url: target });
      }
    } else {
      if (!target.startsWith('/')) throw invalidRequest('bad_request_target', 'the request target is not an absolute path', { url: target });
      path = pathOf(target);
      // With publicUrl alone, Host is not used at all (a gateway may send any internal name).
      if (base === undefined || allowed !== undefined) {
        if (host === undefined) throw invalidRequest('bad_host', 'the request has no Host header');
        authority = checkHost(host);
      }
    }
    checkPath(path);
    // The target as received, when `url` is a runtime's normalised copy of it (dot segments gone).
    if (request.rawTarget !== undefined && request.rawTarget !== target) {
      const raw = ABSOLUTE.exec(request.rawTarget);
      checkPath(pathOf(raw ? raw[3]! : request.rawTarget));
    }
    if (base !== undefined) {
      // The URL is fixed; allowedHosts, when given too, still checks the Host the request came with.
      if (allowed !== undefined) {
        const origin = canonicalAuthority(authority!, scheme);
        if (!isAllowed(allowed, scheme, origin)) throw invalidRequest('host_not_allowed', 'this API does not answer for that host', { origin: `${scheme}://${origin}`, allowed: options.allowedHosts });
      }
      return `${base}${path}`;
    }

    if (trusted !== undefined && trusted(request.remoteAddress)) {
      const named = readFamily(request.headers, family!);
      const proto = unanimous(named.proto.map(checkProto), 'protocol');
      if (proto !== undefined) scheme = proto;
      const forwardedHost = unanimous(named.host.map((h) => canonicalAuthority(checkHost(h, 'forwarded host'), scheme)), 'host');
      if (forwardedHost !== undefined) authority = forwardedHost;
      // The family the proxy does not set comes from the client: it must not disagree.
      const stray = readFamily(request.headers, other);
      const current = canonicalAuthority(authority!, scheme);
      const sameHost = (h: string) => HOST.test(h) && canonicalAuthority(h.toLowerCase(), scheme) === current;
      if (stray.proto.some((p) => p.toLowerCase() !== scheme) || !stray.host.every(sameHost)) {
        throw invalidRequest('forwarded_conflict', `the ${other === 'forwarded' ? 'Forwarded' : 'X-Forwarded-*'} header disagrees with the proxy's ${family === 'forwarded' ? 'Forwarded' : 'X-Forwarded-*'} header`, { stray });
      }
    }
    const effective = canonicalAuthority(authority!, scheme);
    if (allowed !== undefined && !isAllowed(allowed, scheme, effective)) {
      throw invalidRequest('host_not_allowed', 'this API does not answer for that host', { origin: `${scheme}://${effective}`, allowed: options.allowedHosts });
    }
    return `${scheme}://${effective}${path}`;
  };
}
