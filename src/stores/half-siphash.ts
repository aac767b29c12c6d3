/**
 * A 128-bit keyed digest of a string for the memory replay cache's slots: two HalfSipHash lanes
 * (Aumasson and Bernstein's 32-bit SipHash, 64-bit output each) under independent keys, over the
 * string's UTF-16LE bytes.
 *
 * Why not SHA-256: the table needs digests that nobody can steer into one probe run (hash
 * flooding) without a secret key, which is what a keyed short-input PRF is for. A native
 * `crypto.hash` call costs 1.5–3 µs per proof on our CI machine, most of it the crossing into C++;
 * this runs in the JIT on 32-bit words, and the two lanes are independent dependency chains the
 * CPU overlaps. Linux uses HalfSipHash-1-3 the same way (`hsiphash`, for hash tables). A digest
 * collision could only ever refuse a proof as a replay (fail closed), never accept one twice:
 * equal keys always give equal digests.
 *
 * Each lane is the reference HalfSipHash of those bytes, checked against the reference vectors
 * in `test/stores/half-siphash.test.ts`.
 *
 * @module
 */

/** SipHash's c (rounds per message word) and d (finalisation rounds): 1-3 as Linux's hsiphash. */
const C_ROUNDS = 1;
const D_ROUNDS = 3;

/**
 * Write the two lanes' 64-bit results as four little-endian 32-bit words to `out[0..3]`
 * (lane A's two words, then lane B's). `key` holds four 32-bit words: lane A's 64-bit key, then
 * lane B's. `c` and `d` are the round counts (tests run the reference 2-4).
 */
export function halfSipHash128(key: Uint32Array, text: string, out: Uint32Array, c = C_ROUNDS, d = D_ROUNDS): void {
  const ka0 = key[0]! | 0, ka1 = key[1]! | 0, kb0 = key[2]! | 0, kb1 = key[3]! | 0;
  let a0 = ka0, a1 = ka1 ^ 0xee, a2 = 0x6c796765 ^ ka0, a3 = 0x74656462 ^ ka1;
  let b0 = kb0, b1 = kb1 ^ 0xee, b2 = 0x6c796765 ^ kb0, b3 = 0x74656462 ^ kb1;
  const n = text.length;
  // Steps: one per 32-bit message word (two code units; the last word carries a leftover code
  // unit and the byte length mod 256 in its top byte, the reference padding), then the two
  // finalisation halves, each giving one 32-bit word of a lane's output.
  const words = (n >> 1) + 1;
  for (let step = 0; step < words + 2; step++) {
    let m = 0;
    let count = c;
    if (step < words) {
      const i = 2 * step;
      m = i + 1 < n ? text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16) : (i < n ? text.charCodeAt(i) : 0) | (((2 * n) & 0xff) << 24);
      a3 ^= m; b3 ^= m;
    } else if (step === words) {
      a2 ^= 0xee; b2 ^= 0xee;
      count = d;
    } else {
      out[0] = a1 ^ a3; out[2] = b1 ^ b3;
      a1 ^= 0xdd; b1 ^= 0xdd;
      count = d;
    }
    // SipRound, the two lanes interleaved.
    for (let r = 0; r < count; r++) {
      a0 = (a0 + a1) | 0; b0 = (b0 + b1) | 0;
      a1 = (a1 << 5) | (a1 >>> 27); b1 = (b1 << 5) | (b1 >>> 27);
      a1 ^= a0; b1 ^= b0;
      a0 = (a0 << 16) | (a0 >>> 16); b0 = (b0 << 16) | (b0 >>> 16);
      a2 = (a2 + a3) | 0; b2 = (b2 + b3) | 0;
      a3 = (a3 << 8) | (a3 >>> 24); b3 = (b3 << 8) | (b3 >>> 24);
      a3 ^= a2; b3 ^= b2;
      a0 = (a0 + a3) | 0; b0 = (b0 + b3) | 0;
      a3 = (a3 << 7) | (a3 >>> 25); b3 = (b3 << 7) | (b3 >>> 25);
      a3 ^= a0; b3 ^= b0;
      a2 = (a2 + a1) | 0; b2 = (b2 + b1) | 0;
      a1 = (a1 << 13) | (a1 >>> 19); b1 = (b1 << 13) | (b1 >>> 19);
      a1 ^= a2; b1 ^= b2;
      a2 = (a2 << 16) | (a2 >>> 16); b2 = (b2 << 16) | (b2 >>> 16);
    }
    if (step < words) { a0 ^= m; b0 ^= m; }
  }
  out[1] = a1 ^ a3; out[3] = b1 ^ b3;
}
