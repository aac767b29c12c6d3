import { describe, expect, it } from 'vitest';
import { findChallenge, formatChallenge, parseChallenges } from '../../src/core/challenge.js';

describe('RFC 9449 §7.1 WWW-Authenticate challenges', () => {
  it('writes the RFC examples', () => {
    expect(formatChallenge('DPoP', { algs: 'ES256 PS256' })).toBe('DPoP algs="ES256 PS256"');
    expect(formatChallenge('DPoP', { error: 'invalid_token', error_description: 'Invalid DPoP key binding', algs: 'ES256' }))
      .toBe('DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"');
  });

  it('strips characters RFC 6750 §3 forbids in values', () => {
    expect(formatChallenge('DPoP', { error_description: 'a "quoted" \\ value\n' })).toBe('DPoP error_description="a quoted  value"');
  });

  it('parses several challenges, quoted values and unknown parameters', () => {
    const header = 'Bearer realm="api", DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256 PS256", future=x';
    const challenges = parseChallenges(header);
    expect(challenges.map((c) => c.scheme)).toEqual(['Bearer', 'DPoP']);
    expect(challenges[1]!.params).toMatchObject({ error: 'use_dpop_nonce', algs: 'ES256 PS256', future: 'x' });
    expect(findChallenge(header, 'dpop')?.params.error).toBe('use_dpop_nonce');
  });

  it('parses a bare scheme list (no credentials example, §7.2)', () => {
    expect(parseChallenges('Bearer, DPoP algs="ES256 PS256"').map((c) => c.scheme)).toEqual(['Bearer', 'DPoP']);
  });

  it('parses escaped quotes and never throws on junk', () => {
    expect(parseChallenges('DPoP error_description="say \\"hi\\""')[0]!.params.error_description).toBe('say "hi"');
    for (const junk of ['', '=', '"', 'DPoP ="x"', ',,,', 'DPoP error="unterminated']) expect(() => parseChallenges(junk)).not.toThrow();
  });
});
