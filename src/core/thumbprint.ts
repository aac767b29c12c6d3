/**
 * JWK thumbprints (RFC 7638), the `jkt` of RFC 9449 §6.1, and the access-token hash `ath`
 * (RFC 9449 §4.2).
 *
 * @module
 */
import { backend } from '#crypto';
import type { PublicJwk } from './crypto/backend.js';
import { invalidArgument } from './argument-error.js';

/**
 * The RFC 7638 SHA-256 thumbprint of a public JWK, base64url-encoded: the required members
 * only, in lexicographic order, with no white space (RFC 7638 §3.2–3.3).
 *
 * @example
 * ```ts
 * await jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs',
 *   y: '9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA' }); // '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7638#section-3
 */
export async function jwkThumbprint(jwk: PublicJwk): Promise<string> {
  return backend.base64urlEncode(await backend.sha256(canonicalJwk(jwk)));
}

/** The RFC 7638 §3.2 canonical JSON of a JWK's required members. */
export function canonicalJwk(jwk: PublicJwk): string {
  const s = (member: string): string => {
    const value = jwk[member];
    if (typeof value !== 'string' || value.length === 0) throw invalidArgument(`JWK member "${member}" must be a non-empty string`);
    return JSON.stringify(value);
  };
  switch (jwk.kty) {
    case 'EC': return `{"crv":${s('crv')},"kty":"EC","x":${s('x')},"y":${s('y')}}`;
    case 'OKP': return `{"crv":${s('crv')},"kty":"OKP","x":${s('x')}}`;
    case 'RSA': return `{"e":${s('e')},"kty":"RSA","n":${s('n')}}`;
    default: throw invalidArgument(`unsupported JWK kty ${JSON.stringify(jwk.kty)}`);
  }
}

/**
 * The `ath` of an access token: base64url(SHA-256(ASCII token)) (RFC 9449 §4.2).
 *
 * @example
 * ```ts
 * await accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'); // 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo'
 * ```
 */
export async function accessTokenHash(accessToken: string): Promise<string> {
  return backend.base64urlEncode(await backend.sha256(accessToken));
}
