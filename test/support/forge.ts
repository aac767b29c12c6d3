/**
 * Test support: sign arbitrary headers and claims, so a test can break exactly one rule of
 * RFC 9449 §4.3 while everything else (including the signature) stays valid.
 */
import * as crypto from 'node:crypto';

export const b64u = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export interface TestKey {
  privateKey: crypto.KeyObject;
  publicKey: crypto.KeyObject;
  jwk: Record<string, string>;
}

export function testKey(kind: 'ec' | 'ed25519' | 'rsa' = 'ec', curve = 'P-256'): TestKey {
  const pair = kind === 'ec'
    ? crypto.generateKeyPairSync('ec', { namedCurve: curve })
    : kind === 'rsa'
      ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
      : crypto.generateKeyPairSync('ed25519');
  const jwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, string>;
  return { ...pair, jwk };
}

/** Sign `header.payload` as `alg` would (ES256 by default), whatever the header says. */
export function forge(key: TestKey, header: Record<string, unknown>, claims: Record<string, unknown> | string, signAs = 'ES256'): string {
  const input = `${b64u(header)}.${b64u(claims)}`;
  const hash = signAs === 'EdDSA' ? null : `sha${signAs.slice(2)}`;
  const options: crypto.SignKeyObjectInput = { key: key.privateKey };
  if (signAs.startsWith('ES')) options.dsaEncoding = 'ieee-p1363';
  if (signAs.startsWith('PS')) {
    options.padding = crypto.constants.RSA_PKCS1_PSS_PADDING;
    options.saltLength = crypto.constants.RSA_PSS_SALTLEN_DIGEST;
  }
  return `${input}.${crypto.sign(hash, Buffer.from(input), options).toString('base64url')}`;
}

export const now = (): number => Math.floor(Date.now() / 1000);

export function goodClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { jti: crypto.randomUUID(), htm: 'GET', htu: 'https://api.example.com/resource', iat: now(), ...overrides };
}
