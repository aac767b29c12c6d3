/**
 * Validation of configuration values at start: every mistake is a `TypeError` naming the bad
 * key (`clients[2].clientSecret is required for client_secret_basic`).
 *
 * @module
 */
import { keyWeakness } from '../core/weak-keys.js';
import { hashPassword, isPasswordHash, verifyPassword } from './passwords.js';
import type { UserRecord } from './context.js';
import type { ClientConfig, UserConfig } from './options.js';
import { decodeBase32 } from './totp.js';
import type { ClientAuthMethod, ClientRecord, GrantType } from './storage.js';
import { invalidArgument } from '../core/argument-error.js';

const AUTH_METHODS: readonly ClientAuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'];
const GRANTS: readonly GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials'];

export function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw invalidArgument(`${name} must be a positive integer (seconds)`);
  return value;
}

/** A positive integer count (not seconds), or the fallback. */
export function positiveCount(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw invalidArgument(`${name} must be a positive integer`);
  return value;
}

export function checkIssuer(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw invalidArgument('issuer must be an absolute URL');
  }
  // RFC 8414 §2: https, no query, no fragment (http allowed for local development).
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || issuer.includes('#') || issuer.includes('?')) {
    throw invalidArgument('issuer must be an http(s) URL without query or fragment');
  }
  return url;
}

export async function clientRecord(config: ClientConfig, index: number, existing: ClientRecord | undefined): Promise<ClientRecord> {
  const where = `clients[${index}]`;
  if (typeof config.clientId !== 'string' || config.clientId === '') throw invalidArgument(`${where}.clientId must be a non-empty string`);
  if (!AUTH_METHODS.includes(config.tokenEndpointAuthMethod)) throw invalidArgument(`${where}.tokenEndpointAuthMethod must be one of ${AUTH_METHODS.join(', ')}`);
  const redirectUris = config.redirectUris ?? [];
  for (const [i, uri] of redirectUris.entries()) {
    let ok = false;
    try {
      ok = new URL(uri).hash === '' && !uri.includes('#');
    } catch { /* reported below */ }
    if (!ok) throw invalidArgument(`${where}.redirectUris[${i}] must be an absolute URL without fragment`);
  }
  if (config.firstParty !== undefined && typeof config.firstParty !== 'boolean') throw invalidArgument(`${where}.firstParty must be a boolean`);
  const firstParty = config.firstParty === true;
  // A first-party app signs users in at the challenge endpoint: code and refresh by default.
  const grantTypes = config.grantTypes ?? (redirectUris.length > 0 || firstParty ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
  for (const g of grantTypes) if (!GRANTS.includes(g)) throw invalidArgument(`${where}.grantTypes: unknown grant ${String(g)}`);
  if (config.tokenEndpointAuthMethod === 'none' && grantTypes.includes('client_credentials')) {
    throw invalidArgument(`${where}: a public client (none) cannot use client_credentials`);
  }
  let clientSecretHash: string | undefined;
  if (config.tokenEndpointAuthMethod === 'client_secret_basic' || config.tokenEndpointAuthMethod === 'client_secret_post') {
    if (config.clientSecretHash !== undefined) {
      if (!isPasswordHash(config.clientSecretHash)) throw invalidArgument(`${where}.clientSecretHash is not a hash made by hashPassword()`);
      clientSecretHash = config.clientSecretHash;
    } else if (typeof config.clientSecret === 'string' && config.clientSecret.length > 0) {
      // Keep the stored hash when it already matches (stable across restarts), else hash anew.
      clientSecretHash = existing?.clientSecretHash && (await verifyPassword(config.clientSecret, existing.clientSecretHash))
        ? existing.clientSecretHash
        : await hashPassword(config.clientSecret);
    } else {
      throw invalidArgument(`${where}.clientSecret is required for ${config.tokenEndpointAuthMethod}`);
    }
  }
  if (config.tokenEndpointAuthMethod === 'private_key_jwt' && (!config.jwks || !Array.isArray(config.jwks.keys) || config.jwks.keys.length === 0)) {
    throw invalidArgument(`${where}.jwks is required for private_key_jwt`);
  }
  for (const [j, key] of (Array.isArray(config.jwks?.keys) ? config.jwks.keys : []).entries()) {
    // Weak keys verify assertions signed by nobody (small-order Ed25519 points, RSA e = 1).
    const weakness = keyWeakness(key);
    if (weakness !== undefined) throw invalidArgument(`${where}.jwks.keys[${j}] is a weak key: ${weakness}`);
  }
  if (firstParty) {
    if (!grantTypes.includes('authorization_code')) throw invalidArgument(`${where}: a first-party client needs the authorization_code grant`);
  }
  if (config.introspection !== undefined && typeof config.introspection !== 'boolean') throw invalidArgument(`${where}.introspection must be a boolean`);
  // RFC 7662 §2.1: the endpoint requires authorization; a public client proves nothing.
  if (config.introspection && config.tokenEndpointAuthMethod === 'none') throw invalidArgument(`${where}: a public client (none) cannot be allowed to introspect`);
  const record: ClientRecord = {
    clientId: config.clientId,
    tokenEndpointAuthMethod: config.tokenEndpointAuthMethod,
    redirectUris,
    grantTypes,
    scope: config.scope ?? '',
    // draft-ietf-oauth-first-party-apps §9.5: a first-party client's tokens are always DPoP-bound.
    dpopBoundAccessTokens: firstParty || (config.dpopBoundAccessTokens ?? false),
  };
  if (config.clientName !== undefined) record.clientName = config.clientName;
  if (clientSecretHash !== undefined) record.clientSecretHash = clientSecretHash;
  if (config.jwks !== undefined) record.jwks = config.jwks;
  return record;
}

/** A configured user as the server keeps it: the TOTP secret decoded (RFC 4648 base32). */
export function userRecord(user: UserConfig, index: number): UserRecord {
  const where = `users[${index}]`;
  const { totpSecret, webOnly, ...rest } = user;
  const record: UserRecord = { ...rest };
  if (totpSecret !== undefined) {
    let secret: Uint8Array;
    try {
      secret = decodeBase32(String(totpSecret));
    } catch {
      throw invalidArgument(`${where}.totpSecret must be base32 (RFC 4648: A–Z, 2–7)`);
    }
    // RFC 4226 §4 R6: at least 128 bits (160 recommended).
    if (secret.length < 16) throw invalidArgument(`${where}.totpSecret is too short: at least 128 bits (26 base32 characters; 32 recommended)`);
    record.totpSecret = secret;
  }
  if (webOnly !== undefined) {
    if (typeof webOnly !== 'boolean') throw invalidArgument(`${where}.webOnly must be a boolean`);
    record.webOnly = webOnly;
  }
  return record;
}
