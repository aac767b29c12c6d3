import { describe, expect, it } from 'vitest';
import { constantTimeEqual, createNonceSource, NONCE_SYNTAX } from '../../src/core/nonce.js';

const secret = 's'.repeat(32);

describe('RFC 9449 §8–9 stateless nonces', () => {
  it('nonces are NQCHAR (§8.1) and rotate every step', async () => {
    const source = createNonceSource({ secret, stepSeconds: 60 });
    const a = await source.current(600);
    expect(a).toMatch(NONCE_SYNTAX);
    expect(await source.current(659)).toBe(a);
    expect(await source.current(660)).not.toBe(a);
  });

  it('accepts the current and the previous step, not older; expiry follows the step', async () => {
    const source = createNonceSource({ secret, stepSeconds: 60 });
    const issued = await source.current(600); // step 10
    expect(await source.check(issued, 610)).toEqual({ valid: true, expiresAt: 720 });
    expect(await source.check(issued, 700)).toEqual({ valid: true, expiresAt: 720 });
    expect(await source.check(issued, 720)).toEqual({ valid: false });
  });

  it('a fleet sharing the secret shares nonces; another secret does not', async () => {
    const a = createNonceSource({ secret });
    const b = createNonceSource({ secret });
    const c = createNonceSource({ secret: 't'.repeat(32) });
    const n = await a.current(1000);
    expect((await b.check(n, 1000)).valid).toBe(true);
    expect((await c.check(n, 1000)).valid).toBe(false);
  });

  it('bad input is simply invalid', async () => {
    const source = createNonceSource({ secret });
    for (const bad of ['', 'x', 'é'.repeat(43), 42 as unknown as string]) expect((await source.check(bad)).valid).toBe(false);
  });

  it('refuses weak configuration', () => {
    expect(() => createNonceSource({ secret: 'short' })).toThrow(/32 bytes/);
    expect(() => createNonceSource({ secret, stepSeconds: 0 })).toThrow(/stepSeconds/);
  });

  it('constantTimeEqual compares exactly', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abd', 'abc')).toBe(false);
    expect(constantTimeEqual('ab', 'abc')).toBe(false);
    expect(constantTimeEqual('abcd', 'abc')).toBe(false);
  });
});
