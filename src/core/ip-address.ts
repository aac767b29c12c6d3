/**
 * IP addresses as bytes, and "is this peer one of my proxies?", for the two places that believe
 * forwarding headers only from listed proxies: the authorization server's client address
 * (throttling) and the resource server's request URL (`htu`, RFC 9449 §4.3 check 9).
 *
 * Written here, not taken from a library, because the library side has no dependencies and
 * `node:net`'s `BlockList` is Node's alone (the web-standard handlers also run on Bun and Deno).
 *
 * @module
 */
import { invalidArgument } from './argument-error.js';

function parseIPv4(text: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

/** Eight 16-bit groups, or undefined. Accepts `::` compression and a trailing dotted IPv4. */
function parseIPv6(text: string): number[] | undefined {
  let s = text;
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  let tail: number[] = [];
  if (s.includes('.')) {
    // A trailing dotted IPv4 (`::ffff:192.0.2.1`) stands for the last two groups.
    const colon = s.lastIndexOf(':');
    const v4 = parseIPv4(s.slice(colon + 1));
    if (!v4) return undefined;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    s = s.slice(0, colon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const group = (part: string) => (part === '' ? [] : part.split(':'));
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  const words = [...head, ...rest].map((w) => (/^[0-9a-fA-F]{1,4}$/.test(w) ? parseInt(w, 16) : NaN));
  if (words.some(Number.isNaN)) return undefined;
  const total = words.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const zeros = new Array<number>(8 - total).fill(0);
  return [...words.slice(0, head.length), ...zeros, ...words.slice(head.length), ...tail];
}

/**
 * An address as bytes (4 or 16), or undefined if it is not an IP address. Brackets (`[::1]`,
 * `[::1]:443`) and an IPv4 port (`192.0.2.1:443`, as some proxies write X-Forwarded-For) are
 * removed, and an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, an IPv4 client on a dual-stack
 * socket) is its IPv4 address.
 */
export function addressBytes(raw: string): number[] | undefined {
  let a = raw.trim();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    if (end === -1) return undefined;
    a = a.slice(1, end);
  } else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(a)) {
    a = a.slice(0, a.lastIndexOf(':'));
  }
  const v4 = parseIPv4(a);
  if (v4) return v4;
  const v6 = parseIPv6(a);
  if (!v6) return undefined;
  if (v6.slice(0, 5).every((w) => w === 0) && v6[5] === 0xffff) return [v6[6]! >> 8, v6[6]! & 255, v6[7]! >> 8, v6[7]! & 255];
  return v6.flatMap((w) => [w >> 8, w & 255]);
}

/** An exact address or CIDR block (IPv4 or IPv6) as bytes and prefix length, or undefined. */
function parseBlock(entry: string): { bytes: number[]; bits: number } | undefined {
  if (typeof entry !== 'string') return undefined;
  const slash = entry.indexOf('/');
  const bytes = addressBytes(slash === -1 ? entry : entry.slice(0, slash));
  if (!bytes) return undefined;
  if (slash === -1) return { bytes, bits: bytes.length * 8 };
  const bits = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > bytes.length * 8) return undefined;
  return { bytes, bits: Number(bits) };
}

/** Whether `entry` is an IP address, a CIDR block (IPv4 or IPv6) or `*` (for configuration checks). */
export function isProxyAddress(entry: string): boolean {
  return entry === '*' || parseBlock(entry) !== undefined;
}

/**
 * A predicate "this peer is one of the listed proxies": exact addresses and CIDR blocks, IPv4
 * and IPv6, compared as bytes (so `2001:db8::1` and `2001:0db8:0:0:0:0:0:1` are one address,
 * and `::ffff:10.0.0.1` is `10.0.0.1`); `'*'` matches every peer.
 *
 * @param option the option's name, for the error (`trustProxy.addresses`).
 * @throws TypeError naming the entry that is not an address or block.
 */
export function proxyMatcher(entries: readonly string[], option: string): (address: string | undefined) => boolean {
  const blocks = entries.filter((entry) => entry !== '*').map((entry) => {
    const block = parseBlock(entry);
    if (!block) throw invalidArgument(`${option}: ${JSON.stringify(entry)} is not an IP address or CIDR block (IPv4 or IPv6)`);
    return block;
  });
  if (entries.includes('*')) return () => true;
  return (address) => {
    const bytes = address === undefined ? undefined : addressBytes(address);
    return bytes !== undefined && blocks.some((block) => inBlock(bytes, block));
  };
}

/** Whether the first `bits` bits of `bytes` are the block's (never across families). */
function inBlock(bytes: number[], { bytes: prefix, bits }: { bytes: number[]; bits: number }): boolean {
  if (prefix.length !== bytes.length) return false;
  for (let bit = 0; bit < bits; bit += 8) {
    const mask = bits - bit >= 8 ? 0xff : (0xff << (8 - (bits - bit))) & 0xff;
    if ((bytes[bit / 8]! & mask) !== (prefix[bit / 8]! & mask)) return false;
  }
  return true;
}
