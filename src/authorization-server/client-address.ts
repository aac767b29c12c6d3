/**
 * Where a request comes from, for throttling by client address.
 *
 * The default is the TCP peer only: the `remoteAddress` the transport hands to
 * `as.fetch(request, { remoteAddress })` (the node and Express adapters pass the socket's). Forwarding
 * headers (`X-Forwarded-For`, `Forwarded`, …) are written by whoever sends the request, so they
 * are believed only when configured (`throttle.trustProxy`) and only when the immediate peer is
 * one of the listed proxies; the address is then the right-most entry that is not itself a
 * trusted proxy (the one the nearest trusted proxy saw). Anything before it in the list was
 * written by the client and is ignored.
 *
 * Addresses are bucketed as attackers get them: an IPv4 address is one bucket, an IPv6 address
 * counts by its /64 prefix (one customer's allocation, RFC 6177), and an IPv4-mapped IPv6
 * address is its IPv4 address.
 *
 * @module
 */
import { invalidArgument } from '../core/argument-error.js';
import { addressBytes, proxyMatcher } from '../core/ip-address.js';
import type { AsRequest } from './as-request.js';

export interface TrustProxyOptions {
  /**
   * The header the proxy sets: `x-forwarded-for` (or `x-forwarded`, as the resource server's
   * option says: the X-Forwarded-* family; comma-separated list), `forwarded` (RFC 7239 `for=`
   * parameters), or a single-address header such as `x-real-ip`.
   */
  header: string;
  /**
   * Peers allowed to set it: exact IPv4/IPv6 addresses or CIDR blocks (`10.0.0.0/8`,
   * `fd00::/8`). `'*'` trusts every peer: only for a server that cannot be reached except
   * through the proxy (and for runtimes that do not expose the socket address).
   */
  addresses: readonly string[];
}

/** A request's client address, already bucketed (see the module comment), or undefined. */
export type AddressResolver = (request: AsRequest, peer: string | undefined) => string | undefined;

/**
 * What the transport knows about a request's connection, passed as `as.fetch(request, info)`:
 * plain values, no framework objects.
 */
export interface ConnectionInfo {
  /**
   * The TCP peer's address (`socket.remoteAddress` on Node), used to throttle guessing by client
   * address. Leave it out when unknown: throttling then counts by account only (or by the
   * header of `throttle.trustProxy` with `addresses: ['*']`).
   */
  remoteAddress?: string;
}

/** The peer address of `info`, when it is a non-empty string. */
export function peerAddress(info: ConnectionInfo | undefined): string | undefined {
  const address = info?.remoteAddress;
  return typeof address === 'string' && address !== '' ? address : undefined;
}

/**
 * The throttling bucket of an address: `a.b.c.d` for IPv4, the /64 prefix (`2001:db8:0:1::/64`)
 * for IPv6; undefined when `raw` is not an IP address.
 */
export function addressBucket(raw: string): string | undefined {
  const bytes = addressBytes(raw);
  if (!bytes) return undefined;
  if (bytes.length === 4) return bytes.join('.');
  const words = [0, 2, 4, 6].map((i) => ((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return `${words.join(':')}::/64`;
}

/** The `for=` values of RFC 7239 `Forwarded` elements, in order. */
function forwardedFor(value: string): string[] {
  const out: string[] = [];
  for (const element of value.split(',')) {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
      let v = pair.slice(eq + 1).trim();
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
      out.push(v);
    }
  }
  return out;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Build the resolver: the socket peer by default; with `trustProxy`, the forwarded address when
 * the peer is a trusted proxy.
 *
 * @throws TypeError naming the bad option.
 */
export function createAddressResolver(trustProxy?: TrustProxyOptions): AddressResolver {
  if (!trustProxy) return (_request, peer) => (peer === undefined ? undefined : addressBucket(peer));
  if (typeof trustProxy.header !== 'string' || !HEADER_NAME.test(trustProxy.header)) {
    throw invalidArgument('throttle.trustProxy.header must be an HTTP header name (e.g. "x-forwarded-for")');
  }
  if (!Array.isArray(trustProxy.addresses) || trustProxy.addresses.length === 0) {
    throw invalidArgument('throttle.trustProxy.addresses must list the proxies allowed to set the header');
  }
  const named = trustProxy.header.toLowerCase();
  const header = named === 'x-forwarded' ? 'x-forwarded-for' : named;
  const trusted = proxyMatcher(trustProxy.addresses, 'throttle.trustProxy.addresses');
  const anyPeer = trustProxy.addresses.includes('*');
  return (request, peer) => {
    const direct = peer === undefined ? undefined : addressBucket(peer);
    if (peer === undefined ? !anyPeer : !trusted(peer)) return direct;
    const value = request.headers.get(header);
    if (value === null) return direct;
    const list = header === 'forwarded' ? forwardedFor(value) : value.split(',').map((v) => v.trim()).filter(Boolean);
    // Right to left: the nearest proxy wrote the last entry; skip our own proxies.
    for (let i = list.length - 1; i >= 0; i--) {
      const entry = list[i]!;
      if (i > 0 && addressBytes(entry) && trusted(entry) && !anyPeer) continue;
      return addressBucket(entry) ?? direct;
    }
    return direct;
  };
}
