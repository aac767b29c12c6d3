/**
 * Opaque access tokens through RFC 7662 token introspection: the resource server authenticates
 * to the introspection endpoint (`client_secret_basic` or `client_secret_post`, RFC 6749
 * §2.3.1), reads `active`, `cnf.jkt` (RFC 9449 §6.2), `token_type`, `exp`, `scope`, `aud`, `iss`,
 * and caches an active answer no longer than the token lives nor than `maxCacheSeconds`.
 * The cache is keyed by the token's SHA-256, never by the token itself.
 *
 * @module
 */
import { backend } from '#crypto';
import { timed } from '../metrics.js';
import { BoundedCache } from '../../core/proof/parse.js';
import { invalidToken, unavailable } from '../errors.js';
import { checkAudience, checkIssuer, checkTimes, readBinding, type ClaimPolicy } from './claims.js';
import { fetchJson } from './http.js';
import type { FetchLike, TokenInfo, TokenValidator } from './types.js';

export interface IntrospectionOptions {
  /** The introspection endpoint; discovered from the issuer's metadata when absent. */
  endpoint?: string;
  clientId: string;
  clientSecret: string;
  /** How to authenticate (default `client_secret_basic`). */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  /** Longest time an answer is reused (default 60 s); never past the token's `exp`. */
  maxCacheSeconds?: number;
  /** Most cached answers (default 10,000). */
  maxCacheEntries?: number;
}

export interface IntrospectionValidatorOptions extends IntrospectionOptions {
  policy: ClaimPolicy;
  fetch: FetchLike;
  /** Finds the endpoint when `endpoint` is not set (discovery). */
  discover: () => Promise<string>;
  clock?: () => number;
  /** Told how long each call to the endpoint took (metrics); without it no clock is read. */
  onIntrospect?: (seconds: number, ok: boolean) => void;
}

interface CacheEntry {
  info: TokenInfo;
  until: number;
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}

export function createIntrospectionValidator(options: IntrospectionValidatorOptions): TokenValidator {
  const clock = options.clock ?? (() => Date.now() / 1000);
  const maxCache = options.maxCacheSeconds ?? 60;
  const cache = new BoundedCache<string, CacheEntry>(options.maxCacheEntries ?? 10_000);
  const method = options.authMethod ?? 'client_secret_basic';
  const basic = `Basic ${btoa(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`)}`;

  async function introspect(token: string): Promise<Record<string, unknown>> {
    let endpoint: string;
    try {
      endpoint = options.endpoint ?? (await options.discover());
    } catch (err) {
      throw unavailable('metadata_unavailable', 'the introspection endpoint cannot be discovered', err);
    }
    const body = new URLSearchParams({ token, token_type_hint: 'access_token' });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (method === 'client_secret_basic') headers.authorization = basic;
    else {
      body.set('client_id', options.clientId);
      body.set('client_secret', options.clientSecret);
    }
    const call = () => fetchJson(options.fetch, endpoint, { method: 'POST', headers, body: body.toString() });
    try {
      return await (options.onIntrospect ? timed(call, options.onIntrospect) : call());
    } catch (err) {
      throw unavailable('introspection_unavailable', 'the token introspection endpoint cannot be reached', err);
    }
  }

  return {
    async validate(token) {
      const key = backend.base64urlEncode(await backend.sha256(token));
      const now = clock();
      const hit = cache.get(key);
      if (hit && hit.until > now) return hit.info;

      const answer = await introspect(token);
      // RFC 7662 §2.2: anything but `"active": true` is an inactive token.
      if (answer.active !== true) throw invalidToken('token_inactive', 'the access token is not active');
      checkIssuer(answer, options.policy, false);
      checkAudience(answer, options.policy, false);
      checkTimes(answer, now, options.policy, false);
      const jkt = readBinding(answer);
      // RFC 9449 §6.2: a bound token's token_type, when present, is DPoP; "DPoP" without cnf.jkt
      // is a binding this server cannot check.
      if (jkt === undefined && typeof answer.token_type === 'string' && answer.token_type.toLowerCase() === 'dpop') {
        throw invalidToken('unsupported_binding', 'the introspection response says token_type DPoP but gives no cnf.jkt');
      }
      const info: TokenInfo = { claims: answer, jkt };
      const exp = typeof answer.exp === 'number' ? answer.exp : Infinity;
      const until = Math.min(now + maxCache, exp);
      if (until > now) cache.set(key, { info, until });
      return info;
    },
  };
}
