/**
 * TOTP (RFC 6238) and HOTP (RFC 4226) against the RFCs' own test vectors, base32 (RFC 4648 §6),
 * and the ±1-step window of RFC 6238 §5.2.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBase32, encodeBase32, hotp, matchTotp, otpauthUri, totp, totpStep, type TotpAlgorithm } from '../../src/authorization-server/totp.js';

interface Vectors {
  totp: { seeds: Record<TotpAlgorithm, string>; vectors: Array<{ time: number; step: string } & Record<TotpAlgorithm, string>> };
  hotp: { secret: string; codes: string[] };
}
const V = JSON.parse(readFileSync(new URL('../vectors/rfc6238.json', import.meta.url), 'utf8')) as Vectors;

describe('RFC 6238 Appendix B: TOTP test vectors', () => {
  for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
    for (const v of V.totp.vectors) {
      it(`${algorithm} at ${v.time} (T = 0x${v.step}) → ${v[algorithm]}`, () => {
        const seed = Buffer.from(V.totp.seeds[algorithm], 'ascii');
        expect(totpStep(v.time)).toBe(Number.parseInt(v.step, 16));
        expect(totp(seed, v.time, { algorithm, digits: 8 })).toBe(v[algorithm]);
      });
    }
  }

  it('the SHA-1 vectors also verify through matchTotp (the server\'s check), at their own step', () => {
    const seed = Buffer.from(V.totp.seeds.SHA1, 'ascii');
    for (const v of V.totp.vectors) expect(matchTotp(seed, v.SHA1, v.time, { digits: 8 })).toBe(Number.parseInt(v.step, 16));
  });

  it('6 digits (the server\'s profile) are the last 6 of the 8-digit code', () => {
    const seed = Buffer.from(V.totp.seeds.SHA1, 'ascii');
    for (const v of V.totp.vectors) expect(totp(seed, v.time)).toBe(v.SHA1.slice(2));
  });
});

describe('RFC 4226 Appendix D: HOTP test vectors', () => {
  it('counters 0–9 give the published codes', () => {
    const secret = Buffer.from(V.hotp.secret, 'ascii');
    expect(V.hotp.codes.map((_, counter) => hotp(secret, counter))).toEqual(V.hotp.codes);
  });
});

describe('RFC 6238 §5.2: the verification window', () => {
  const secret = Buffer.from(V.totp.seeds.SHA1, 'ascii');
  const t = 1_700_000_000;
  const step = totpStep(t);

  it('the previous, current and next step are accepted, and the match names its step', () => {
    expect(matchTotp(secret, totp(secret, t - 30), t)).toBe(step - 1);
    expect(matchTotp(secret, totp(secret, t), t)).toBe(step);
    expect(matchTotp(secret, totp(secret, t + 30), t)).toBe(step + 1);
  });

  it('two steps away, a wrong code, a wrong length or non-digits → no match', () => {
    for (const code of [totp(secret, t - 60), totp(secret, t + 60)]) {
      // (a code two steps away may collide with one inside the window: skip that one-in-a-million case)
      if ([t - 30, t, t + 30].some((at) => totp(secret, at) === code)) continue;
      expect(matchTotp(secret, code, t)).toBeUndefined();
    }
    const right = totp(secret, t);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    expect(matchTotp(secret, wrong, t)).toBeUndefined();
    expect(matchTotp(secret, right.slice(1), t)).toBeUndefined();
    expect(matchTotp(secret, `${right}0`, t)).toBeUndefined();
    expect(matchTotp(secret, '12345a', t)).toBeUndefined();
    expect(matchTotp(secret, ' 12345', t)).toBeUndefined();
  });
});

describe('RFC 4648 §6 base32 secrets', () => {
  it('round-trips, ignores case, spaces and padding; the RFC 4648 §10 examples', () => {
    const bytes = Buffer.from('12345678901234567890');
    expect(encodeBase32(bytes)).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    expect(decodeBase32('gezd gnbv gy3t qojq gezd gnbv gy3t qojq')).toEqual(bytes);
    expect(encodeBase32(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(decodeBase32('MZXW6YTBOI======').toString()).toBe('foobar');
    expect(decodeBase32('MZXW6===').toString()).toBe('foo');
  });

  it('refuses characters outside the alphabet', () => {
    expect(() => decodeBase32('ABC1')).toThrow(TypeError);
    expect(() => decodeBase32('AB-C')).toThrow(TypeError);
  });

  it('otpauth:// URI with issuer, account and the profile', () => {
    const uri = new URL(otpauthUri('gezd gnbv', 'bob', 'dpopkit demo'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/dpopkit demo:bob');
    expect(Object.fromEntries(uri.searchParams)).toEqual({ secret: 'GEZDGNBV', issuer: 'dpopkit demo', algorithm: 'SHA1', digits: '6', period: '30' });
  });
});
