/**
 * core/ip-address: addresses as bytes and the trusted-proxy matcher shared by the authorization
 * server (client address for throttling) and the resource server (forwarded host and scheme for
 * `htu`, RFC 9449 §4.3). Checked against a BigInt reference for random addresses and prefixes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressBytes, isProxyAddress, proxyMatcher } from '../../src/core/ip-address.js';

const bigOf = (bytes: number[]) => bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
const inBlock = (address: number[], block: number[], bits: number) => {
  const width = BigInt(address.length * 8);
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << (width - BigInt(bits));
  return address.length === block.length && (bigOf(address) & mask) === (bigOf(block) & mask);
};
const v4 = (b: number[]) => b.join('.');
/** ::ffff:a.b.c.d is read as IPv4, so the IPv6 reference leaves it out. */
const mapped = (b: number[]) => b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
const v6 = (b: number[]) => Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':');

describe('addressBytes', () => {
  it('reads IPv4, IPv6 (compressed, full, with a zone or brackets), an IPv4 port, and maps ::ffff:a.b.c.d to IPv4', () => {
    expect(addressBytes('192.0.2.1')).toEqual([192, 0, 2, 1]);
    expect(addressBytes('192.0.2.1:8443')).toEqual([192, 0, 2, 1]);
    expect(addressBytes('::ffff:192.0.2.1')).toEqual([192, 0, 2, 1]);
    expect(addressBytes('::ffff:c000:201')).toEqual([192, 0, 2, 1]);
    expect(addressBytes('[2001:db8::1]:443')).toEqual(addressBytes('2001:0db8:0:0:0:0:0:1'));
    expect(addressBytes('fe80::1%eth0')).toEqual([0xfe, 0x80, ...new Array(13).fill(0), 1]);
    expect(addressBytes('::')).toEqual(new Array(16).fill(0));
    for (const bad of ['', 'localhost', '256.0.0.1', '1.2.3', '1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', '[::1', '::1:', '1.2.3.4.5']) expect(addressBytes(bad), bad).toBeUndefined();
  });

  it('isProxyAddress accepts addresses, CIDR blocks of either family and "*", nothing else', () => {
    for (const ok of ['10.0.0.1', '10.0.0.0/8', '0.0.0.0/0', 'fd00::/8', '::1', '::/0', '*', '2001:db8::/128']) expect(isProxyAddress(ok), ok).toBe(true);
    for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/-1', '10.0.0.0/', 'proxy', '10.0.0.0/8/8', '**']) expect(isProxyAddress(bad), bad).toBe(false);
  });
});

describe('proxyMatcher', () => {
  it('agrees with a BigInt reference for random IPv4 blocks and peers', () => {
    const bytes4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
    fc.assert(
      fc.property(bytes4, fc.integer({ min: 0, max: 32 }), bytes4, (block, bits, peer) => {
        const match = proxyMatcher([`${v4(block)}/${bits}`], 'x');
        expect(match(v4(peer))).toBe(inBlock(peer, block, bits));
        expect(match(`::ffff:${v4(peer)}`)).toBe(inBlock(peer, block, bits));
        expect(match(v4(block))).toBe(true);
      }),
    );
  });

  it('agrees with a BigInt reference for random IPv6 blocks and peers, prefixes not on a byte boundary included', () => {
    const bytes16 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(bytes16, fc.integer({ min: 0, max: 128 }), bytes16, fc.integer({ min: 0, max: 127 }), (block, bits, peer, flip) => {
        fc.pre(!mapped(block) && !mapped(peer));
        const match = proxyMatcher([`${v6(block)}/${bits}`], 'x');
        expect(match(v6(peer))).toBe(inBlock(peer, block, bits));
        // one bit flipped: inside the prefix it leaves the block, after it it stays
        const near = [...block];
        near[flip >> 3] ^= 0x80 >> (flip & 7);
        if (!mapped(near)) expect(match(v6(near))).toBe(flip >= bits);
      }),
    );
  });

  it('never matches across families, an undefined peer or a non-address; "*" matches all; a bad entry names the option', () => {
    const match = proxyMatcher(['10.0.0.0/8', 'fd00::/8'], 'x');
    expect(match('a00::1')).toBe(false); // 0a00::… is not 10.0.0.0/8
    expect(match(undefined)).toBe(false);
    expect(match('10.0.0.1.example')).toBe(false);
    expect(proxyMatcher(['*'], 'x')(undefined)).toBe(true);
    expect(() => proxyMatcher(['10.0.0.0/8', 'proxy.internal'], 'throttle.trustProxy.addresses')).toThrow('throttle.trustProxy.addresses: "proxy.internal" is not an IP address or CIDR block');
  });
});
