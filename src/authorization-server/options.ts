/**
 * The options of `createAuthorizationServer` and the server it returns (public API).
 *
 * @module
 */
import type { ReplayCache } from '../core/replay.js';
import type { ConnectionInfo } from './client-address.js';
import type { DPoPOptions } from '../core/dpop-options.js';
import type { Logger } from '../core/logger.js';
import type { RegistrationOptions } from './registration.js';
import type { SigningAlg } from './signing-keys.js';
import type { ClientAuthMethod, GrantType, Storage } from './storage.js';
import type { ThrottleOptions } from './throttle.js';
import type { AsRequest } from './as-request.js';
import type { ReplayQuota } from './replay-quota.js';

/** A client as configured (its secret in clear; it is stored as a scrypt hash). */
export interface ClientConfig {
  clientId: string;
  clientName?: string;
  tokenEndpointAuthMethod: ClientAuthMethod;
  /** For `client_secret_basic` / `client_secret_post`: the secret (hashed with scrypt before storing). */
  clientSecret?: string;
  /** Alternatively, a hash made by `hashPassword()`. */
  clientSecretHash?: string;
  /** For `private_key_jwt`: the client's public keys. */
  jwks?: { keys: Record<string, unknown>[] };
  redirectUris?: string[];
  /** Default: `authorization_code` + `refresh_token` with redirect URIs, else `client_credentials`. */
  grantTypes?: GrantType[];
  /** Space-separated scopes the client may ask for (default: none). */
  scope?: string;
  /** RFC 9449 §5.2: refuse this client's token requests that carry no DPoP proof. */
  dpopBoundAccessTokens?: boolean;
  /**
   * RFC 7662 §2.1: this client (a resource server) may call the introspection endpoint. Default
   * `false`: other clients, even authenticated ones, are refused (403), since introspection
   * tells who a token belongs to, its scope and its key (§4). Needs client authentication.
   */
  introspection?: boolean;
  /**
   * RFC 8707: the resources (among the server's `resources` and `tokens.audience`) this client may
   * have tokens for. Default: every one. Asking for another is `invalid_target`.
   */
  resources?: string[];
  /**
   * draft-ietf-oauth-first-party-apps: an app of the same party as this server, which may sign
   * users in without a browser at the authorization challenge endpoint. Its tokens are always
   * DPoP-bound (`dpopBoundAccessTokens` is implied, whatever it says). Default `false`.
   */
  firstParty?: boolean;
}

export interface UserConfig {
  username: string;
  /** A string made by `hashPassword()`. */
  passwordHash: string;
  name?: string;
  /**
   * RFC 6238 TOTP secret, base32 (at least 128 bits): sign-in asks for the current six-digit
   * code after the password (SHA-1, 30 s, ±1 step), at the challenge endpoint and on the sign-in
   * page. Each code is accepted once.
   */
  totpSecret?: string;
  /** First-party apps get `redirect_to_web` for this account: it signs in with a browser only. */
  webOnly?: boolean;
}

export interface AuthorizationServerOptions {
  /** The exact issuer URL; every endpoint URL derives from it (with its path, if any). */
  issuer: string;
  storage: Storage;
  /**
   * Where proof `jti`s (and client assertion `jti`s) are spent. Default: in-memory. Give the
   * authorization server its own: a cache shared with a resource server lets a flood at one
   * stop the other.
   */
  replayCache?: ReplayCache;
  /**
   * DPoP proofs at the token, PAR and other endpoints, named as the resource server's `dpop`
   * (and `verifyProof`'s expectations) name them: `algs` (default every asymmetric one), `nonce`
   * (RFC 9449 §8: `false` by default; a `NonceSource`, or `{ secret?, stepSeconds? }` for the
   * stateless HMAC source whose secret every server of a fleet shares — without a secret, a
   * random one for this process only), `maxAge` (300 s), `maxFuture` (5 s); and `replayQuota`.
   */
  dpop?: DPoPOptions & {
    /**
     * Every token request of every client must carry a proof (as if each client had
     * `dpopBoundAccessTokens`); metadata says `dpop_bound_access_tokens_required: true`.
     */
    required?: boolean;
    /**
     * Live entries one holder may have in the replay cache at once (RFC 9449 §11.1: its proof
     * `jti`s, and a client's `private_key_jwt` assertion `jti`s): `perClient` for a
     * confidential client (default 1000), `perKey` for one DPoP key of a public client
     * (default 100). Past it the holder gets 429 with `Retry-After` until its oldest entries
     * expire; nobody else is affected. `store` keeps the counts: this process's memory by
     * default, or one a fleet shares (`createRedisReplayQuota` from `dpopkit/stores/redis`,
     * `createPostgresReplayQuota` from `dpopkit/stores/postgres`), without which each server
     * counts only what passes through it.
     */
    replayQuota?: { perClient?: number; perKey?: number; store?: ReplayQuota };
  };
  tokens?: {
    /** Access-token lifetime in seconds (default 600). */
    accessTokenTtl?: number;
    /** Absolute lifetime of a refresh-token family in seconds (default 14 days). */
    refreshTokenTtl?: number;
    codeTtl?: number;
    parTtl?: number;
    interactionTtl?: number;
    /** Seconds a first-party sign-in flow (its `auth_session`s) may take (default 300). */
    authSessionTtl?: number;
    /** `aud` of access tokens (default: the issuer). */
    audience?: string | string[];
  };
  signingKeys?: { alg?: SigningAlg; rotateAfter?: number; publishAhead?: number };
  /**
   * RFC 8707 resource indicators: the protected resources (APIs) this server issues tokens for,
   * by their resource identifiers. A client names one or more with `resource`; the token's
   * `aud` is what was granted. Listed in metadata as `protected_resources` (RFC 9728 §4).
   * `tokens.audience` is always one of them (the default when a client asks for none).
   */
  resources?: string[];
  /** RFC 7591 dynamic client registration at `/register` (off by default). */
  registration?: RegistrationOptions;
  clients: ClientConfig[];
  users?: UserConfig[];
  /**
   * Throttling of password and client-secret guessing (RFC 6585 §4: 429 with `Retry-After`):
   * failures per username, client address and `client_id`, counted in `storage.attempts`
   * (shared by a fleet on one database), and a bound on concurrent scrypt work. On by default.
   */
  throttle?: ThrottleOptions;
  /** First-party sign-in at the authorization challenge endpoint. */
  firstParty?: {
    /** Wrong passwords and codes in one flow before it ends with `redirect_to_web` (default 5). */
    maxFailures?: number;
  };
  /** Origins allowed to call token, PAR, revocation, metadata and JWKS from a browser (default: none). */
  corsOrigins?: string[];
  /**
   * A line shown on the sign-in page to every visitor, e.g. a demo's credentials. Development
   * only. Default: none.
   */
  loginHint?: string;
  /** A pino-compatible {@link Logger}: refusals with their `reason` (never a token, secret or proof). */
  logger?: Logger;
  /** Clock in epoch seconds (default: `Date.now() / 1000`; tests). */
  clock?: () => number;
}

export interface AuthorizationServer {
  /**
   * The Web-standard request handler (Bun, Deno, edge runtimes, or on Node through
   * `dpopkit/authorization-server/node` and `/express`). `info.remoteAddress` is the client's
   * (TCP peer's) address, used to throttle guessing by address; without it only accounts are
   * counted (see `throttle.trustProxy`). It never throws: every failure is an HTTP answer.
   */
  fetch(request: AsRequest, info?: ConnectionInfo): Promise<Response>;
  /**
   * Whether a request for `pathname` (as sent, not percent-decoded) is this server's: its
   * endpoints under the issuer's path and the well-known metadata URLs. Adapters mounted in a
   * larger application pass other paths on.
   */
  handles(pathname: string): boolean;
  /** The issuer and endpoint URLs. */
  readonly issuer: string;
  /** Stop background work. The storage and replay cache passed in stay open (their owner closes them). */
  close(): Promise<void>;
}
