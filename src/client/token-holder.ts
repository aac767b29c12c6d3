/**
 * `createTokenHolder`: keeps one token set fresh, refreshing ahead of expiry, one refresh at a
 * time. Refresh tokens are often single-use (rotation, RFC 9700 §4.14.2): two concurrent
 * refreshes would spend the same refresh token twice and the server may revoke the whole grant.
 *
 * @module
 */
import type { DPoPClient, DPoPRequestInit } from './dpop-client.js';
import { OAuthResponseError } from './oauth/errors.js';
import type { TokenResponse } from './oauth/types.js';

export interface TokenHolderOptions {
  /** The token set to start with (from `exchangeCode`, `clientCredentials`, …). */
  initial: TokenResponse;
  /** Obtain a new token set with a refresh token, e.g. `(rt) => refresh(client, metadata, { clientId, refreshToken: rt })`. */
  refresh: (refreshToken: string) => Promise<TokenResponse>;
  /** Refresh this many seconds before `expires_at` (default 30). */
  refreshAheadSeconds?: number;
  /** Clock in epoch seconds (default: `Date.now() / 1000`). */
  clock?: () => number;
}

export interface TokenHolder {
  /**
   * A usable access token: the current one, or a refreshed one when the current one expires
   * within `refreshAheadSeconds`. Concurrent callers share a single refresh. When a refresh fails
   * while the current token has not yet expired, the current token is returned (the next call
   * tries again); once it has expired, the refresh's error is thrown.
   *
   * @throws OAuthResponseError `no_token` after `clear()`, `token_expired` when expired with no refresh
   *   token, or the refresh's own error.
   */
  accessToken(): Promise<string>;
  /** The current token set (with `expires_at`), or `undefined` after `clear()`. */
  current(): TokenResponse | undefined;
  /** Forget the tokens (sign-out, key rotation: a new key needs new tokens). */
  clear(): void;
  /** `client.fetch` with the current access token. */
  fetch(input: string | URL | Request, init?: Omit<DPoPRequestInit, 'accessToken'>): Promise<Response>;
}

/** Create a token holder for `client`'s tokens. */
export function createTokenHolder(client: DPoPClient, options: TokenHolderOptions): TokenHolder {
  const now = options.clock ?? (() => Date.now() / 1000);
  const ahead = options.refreshAheadSeconds ?? 30;
  let tokens: TokenResponse | undefined;
  let expiresAt: number | undefined;
  let inflight: Promise<void> | undefined;
  // Bumped by clear() and by every new token set, so a refresh that lands late cannot revive
  // cleared tokens.
  let generation = 0;

  function set(next: TokenResponse): void {
    const previous = tokens?.refresh_token;
    tokens = { ...next };
    // RFC 6749 §6: no new refresh token means the old one stays valid.
    if (tokens.refresh_token === undefined && previous !== undefined) tokens.refresh_token = previous;
    expiresAt = typeof next.expires_at === 'number' ? next.expires_at
      : typeof next.expires_in === 'number' ? now() + next.expires_in : undefined;
    generation++;
  }
  set(options.initial);

  function startRefresh(refreshToken: string): Promise<void> {
    if (!inflight) {
      const started = generation;
      inflight = options.refresh(refreshToken).then((next) => {
        if (generation === started) set(next);
      }).finally(() => { inflight = undefined; });
    }
    return inflight;
  }

  const holder: TokenHolder = {
    async accessToken() {
      if (!tokens) throw new OAuthResponseError('no_token', { message: 'the token holder has no tokens (cleared)' });
      if (expiresAt === undefined || now() < expiresAt - ahead) return tokens.access_token;
      const refreshToken = tokens.refresh_token;
      if (refreshToken === undefined) {
        if (now() < expiresAt) return tokens.access_token;
        throw new OAuthResponseError('token_expired', { message: 'the access token has expired and there is no refresh token' });
      }
      try {
        await startRefresh(refreshToken);
      } catch (err) {
        if (tokens && expiresAt !== undefined && now() < expiresAt) return tokens.access_token;
        throw err;
      }
      if (!tokens) throw new OAuthResponseError('no_token', { message: 'the token holder was cleared during a refresh' });
      return tokens.access_token;
    },
    current() {
      return tokens ? { ...tokens, ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}) } : undefined;
    },
    clear() {
      tokens = undefined;
      expiresAt = undefined;
      generation++;
    },
    async fetch(input, init = {}) {
      return client.fetch(input, { ...init, accessToken: await holder.accessToken() });
    },
  };
  return holder;
}
