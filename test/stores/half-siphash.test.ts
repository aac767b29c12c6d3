import { describe, expect, it } from 'vitest';
import { halfSipHash128 } from '../../src/stores/half-siphash.js';

/**
 * HalfSipHash-2-4, 64-bit output, key 00 01 … 07, message 00 01 … (len − 1): `vectors_hsip64`
 * of the SipHash reference implementation (Aumasson), the lengths a UTF-16 string can encode.
 */
const REFERENCE_HSIP64: Record<number, string> = {
  0: '218d1f59b9b83cc8',
  2: '064f39ef7c50eb57',
  4: 'd5e78a175be52ea1',
  6: 'ce3e91358aa2bc25',
  62: 'f90b3ab572d46693',
};
const REFERENCE_KEY = [0x03020100, 0x07060504];

/** The string whose UTF-16LE bytes are 00 01 … (len − 1). */
function referenceMessage(byteLength: number): string {
  let text = '';
  for (let i = 0; i < byteLength; i += 2) text += String.fromCharCode(i | ((i + 1) << 8));
  return text;
}

const hex = (words: Uint32Array): string => Buffer.from(words.buffer, words.byteOffset, words.byteLength).toString('hex');

describe('HalfSipHash digests of the memory replay cache', () => {
  for (const [length, expected] of Object.entries(REFERENCE_HSIP64)) {
    it(`both lanes equal the reference HalfSipHash-2-4 vector for a ${length}-byte message`, () => {
      const out = new Uint32Array(4);
      halfSipHash128(new Uint32Array([...REFERENCE_KEY, ...REFERENCE_KEY]), referenceMessage(Number(length)), out, 2, 4);
      expect(hex(out)).toBe(expected + expected);
    });
  }

  it('the two lanes use their own keys', () => {
    const out = new Uint32Array(4);
    halfSipHash128(new Uint32Array([...REFERENCE_KEY, 1, 2]), referenceMessage(6), out, 2, 4);
    expect(hex(out.subarray(0, 2))).toBe(REFERENCE_HSIP64[6]);
    expect(hex(out.subarray(2, 4))).not.toBe(REFERENCE_HSIP64[6]);
  });

  it('an odd number of code units, the length byte and non-ASCII text all change the digest (1-3 rounds, as used)', () => {
    const key = new Uint32Array([1, 2, 3, 4]);
    const digest = (text: string): string => {
      const out = new Uint32Array(4);
      halfSipHash128(key, text, out);
      return hex(out);
    };
    const inputs = ['', '\u0000', 'a', 'ab', 'abc', 'jkt:jti', 'jkt:jtí', 'jkt:jti\u0000', 'jkt:jt\u{1F600}'];
    const seen = new Set(inputs.map(digest));
    expect(seen.size).toBe(inputs.length);
    expect(digest('jkt:jti')).toBe(digest('jkt:jti')); // deterministic: a replay always finds its entry
  });
});
