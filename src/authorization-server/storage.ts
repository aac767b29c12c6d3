/**
 * The authorization server's `Storage` port: everything it must remember across requests and
 * restarts. One SQL implementation (`dpopkit/stores/postgres`) runs on PGlite (the embedded
 * default) and on PostgreSQL; every implementation passes `test/contracts/storage.ts`.
 *
 * Conventions of the contract:
 * - Times are epoch seconds (integers). `now` is always passed in, so tests control the clock.
 * - Secrets are never stored: codes, refresh tokens, PAR `request_uri`s and interaction ids are
 *   stored by the SHA-256 the server computes (`id`/`tokenHash`), so a database leak yields no
 *   usable credential. Client secrets are stored as scrypt hashes.
 * - "Atomic" means one statement or one transaction: two concurrent callers can never both win.
 * - Expired records behave as absent; `purgeExpired` deletes them eventually.
 *
 * @module
 */
import type { AttemptStore } from './throttle.js';

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials';

/** A registered client (seeded from configuration at start; `upsertClient` replaces it whole). */
export interface ClientRecord {
  clientId: string;
  clientName?: string;
  tokenEndpointAuthMethod: ClientAuthMethod;
  /** scrypt hash (`scrypt$N$r$p$salt$hash`) for the client_secret_* methods. */
  clientSecretHash?: string;
  /** Public keys for `private_key_jwt` (RFC 7523), as a JWK Set. */
  jwks?: { keys: Record<string, unknown>[] };
  /** Exact-match redirect URIs (RFC 9700 §4.1.3). */
  redirectUris: string[];
  grantTypes: GrantType[];
  /** Space-separated scopes this client may ask for. */
  scope: string;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: a token request without a proof is refused. */
  dpopBoundAccessTokens: boolean;
  /** RFC 8707: the resources this client may have tokens for (absent: every resource the server knows). */
  resources?: string[];
  /** RFC 7591 `jwks_uri`: where the client publishes its `private_key_jwt` keys (instead of `jwks`). */
  jwksUri?: string;
  /**
   * RFC 7591 `client_id_issued_at`: set only for a client that registered itself at the
   * registration endpoint. A configured client never has it, and its record is replaced whole by
   * the configuration at every start (a registration can never take over a configured id).
   */
  registeredAt?: number;
}

/** A validated authorization request waiting for the user to sign in (the login form's state). */
export interface InteractionRecord {
  /** SHA-256 of the interaction id carried by the sign-in form. */
  id: string;
  clientId: string;
  /** The validated request: redirect_uri, scope, state, code_challenge, dpop_jkt, nonce … */
  params: Record<string, string>;
  /** SHA-256 of the CSRF token bound to this interaction (the form must echo the token). */
  csrfHash: string;
  expiresAt: number;
}

/** An issued authorization code (RFC 6749 §4.1.2), single-use. */
export interface AuthorizationCodeRecord {
  /** SHA-256 of the code. */
  id: string;
  clientId: string;
  subject: string;
  /** The authorization request's redirect URI; absent for a code of the challenge endpoint. */
  redirectUri?: string;
  scope: string;
  /** RFC 7636: required at the authorization endpoint, optional at the challenge endpoint. */
  codeChallenge?: string;
  codeChallengeMethod?: 'S256';
  /** RFC 9449 §10: the thumbprint the token request's proof key must have. */
  dpopJkt?: string;
  /** OpenID `nonce`, if the request had one. */
  nonce?: string;
  /** RFC 8707: the resources the authorization request asked for (absent: the token endpoint's default). */
  resources?: string[];
  /**
   * Issued at the authorization challenge endpoint (draft-ietf-oauth-first-party-apps §6): no
   * redirect URI, PKCE only if the flow had a challenge; the token response carries an
   * `auth_session` for step-up.
   */
  challenge?: boolean;
  /** RFC 9470 `acr` and RFC 8176 `amr` of the sign-in (copied into the access tokens). */
  acr?: string;
  amr?: string[];
  authTime: number;
  expiresAt: number;
}

/**
 * A first-party sign-in's `auth_session` (draft-ietf-oauth-first-party-apps §5.3.1), single
 * use: each step retires the presented one and stores its successor (see `auth-session.ts`).
 */
export interface AuthSessionRecord {
  /** SHA-256 of the `auth_session` value. */
  id: string;
  /** The same for every session of one sign-in flow (its throttling key); never sent. */
  flowId: string;
  clientId: string;
  /** §9.6.1: the thumbprint of the DPoP key of the flow's first request; every step must prove it. */
  jkt: string;
  /** `pending`: a sign-in in progress; `authenticated`: handed out with tokens, for step-up. */
  stage: 'pending' | 'authenticated';
  /** The username typed (known or not) or, once authenticated, the subject. */
  username?: string;
  /**
   * The flow's authorization request: scope, code_challenge, acr_values, max_age, redirect_uri,
   * resource (RFC 8707, space-separated; for an authenticated session, what its grant holds).
   */
  params: Record<string, string>;
  /** RFC 8176 methods passed (`pwd`, `otp`). */
  amr: string[];
  acr?: string;
  /** When the user last authenticated in this flow or sign-in. */
  authTime?: number;
  /** Wrong passwords and codes in this flow so far. */
  failures: number;
  createdAt: number;
  expiresAt: number;
}

/** A pushed authorization request (RFC 9126), single-use. */
export interface PushedRequestRecord {
  /** SHA-256 of the `request_uri`. */
  id: string;
  clientId: string;
  /** The validated authorization-request parameters (with `dpop_jkt` from the proof, if any). */
  params: Record<string, string>;
  expiresAt: number;
}

/** A refresh-token family: one grant, rotated token by token (RFC 9700 §4.14.2). */
export interface RefreshFamilyRecord {
  familyId: string;
  clientId: string;
  subject: string;
  scope: string;
  /**
   * RFC 9449 §5: refresh tokens of public clients are bound to the DPoP key: from the first
   * DPoP-bound token the family issues (at the code exchange, or at a later refresh) on.
   */
  jkt?: string;
  /** The authorization code's id this family came from (revoked together on code reuse). */
  grantId?: string;
  /** RFC 8707: every resource the grant holds (a refresh may narrow to some of them). */
  resources?: string[];
  /** RFC 9470 `acr` and RFC 8176 `amr` of the sign-in (carried into every refreshed access token). */
  acr?: string;
  amr?: string[];
  authTime: number;
  createdAt: number;
  /** Absolute end of the family; rotation never extends it. */
  expiresAt: number;
  revokedAt?: number;
}

/** A signing key of the authorization server (published in `/jwks`). */
export interface SigningKeyRecord {
  kid: string;
  alg: string;
  /** Private JWK (stored as is: protect the database like a key store). */
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: number;
  /** From this time the key signs (it is published before: `createdAt` ≤ `activatesAt`). */
  activatesAt: number;
  /** After this time it no longer signs. */
  retiresAt: number;
  /** After this time it is no longer published (every token it signed has expired). */
  expiresAt: number;
}

export type ConsumeResult<T> =
  | { outcome: 'consumed'; record: T }
  /** Seen and already used: the caller treats this as an attack (RFC 6749 §4.1.2). */
  | { outcome: 'reused'; record: T }
  | { outcome: 'missing' };

export type RotateResult =
  | { outcome: 'rotated'; family: RefreshFamilyRecord }
  /** The presented token was already rotated: the whole family is now revoked (atomically). */
  | { outcome: 'reused'; family: RefreshFamilyRecord }
  /**
   * The presented token is bound to a key (RFC 9449 §5) and the request's key is not that one:
   * nothing changed (the token is not retired, a retired one does not revoke its family).
   */
  | { outcome: 'mismatch'; family: RefreshFamilyRecord }
  | { outcome: 'missing' };

/**
 * The DPoP key presented with a refresh request (RFC 9449 §5), checked and applied inside the
 * rotation, atomically with it.
 */
export interface RefreshKeyCheck {
  /** Thumbprint of the request's proof key; absent when the request had no proof. */
  jkt?: string;
  /**
   * Bind a family that has no key yet to `jkt` (public clients: once a family issues a
   * DPoP-bound token, its refresh tokens are bound to that key from then on).
   */
  bind: boolean;
}

export interface Storage {
  /** Create or migrate the schema. Idempotent; safe when several processes start together. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /**
   * Failed-attempt counters in the same database (see `throttle.ts`), so every server of a
   * fleet throttles guessing together. Optional: without it the server counts per process.
   */
  readonly attempts?: AttemptStore;

  upsertClient(client: ClientRecord): Promise<void>;
  getClient(clientId: string): Promise<ClientRecord | undefined>;
  /**
   * RFC 7591: store a client that registered itself (`registeredAt` set), ATOMICALLY only while
   * fewer than `limit` registered clients exist and its id is free: `created`, else `full` or
   * `exists` (nothing written). Configured clients do not count against the limit.
   */
  registerClient(client: ClientRecord, limit: number): Promise<'created' | 'full' | 'exists'>;

  saveInteraction(record: InteractionRecord): Promise<void>;
  getInteraction(id: string, now: number): Promise<InteractionRecord | undefined>;
  /** Atomic single use: only the first caller gets the record. */
  consumeInteraction(id: string, now: number): Promise<InteractionRecord | undefined>;

  saveCode(record: AuthorizationCodeRecord): Promise<void>;
  /**
   * A code without using it up: live and unused, or already used (`used: true`, until purged,
   * even past its expiry). Expired unused codes are absent. The server checks client, redirect
   * URI, PKCE and key binding on it before it consumes anything.
   */
  findCode(id: string, now: number): Promise<{ record: AuthorizationCodeRecord; used: boolean } | undefined>;
  /**
   * Atomic single use, only for the client the code was issued to: a code of another client
   * is left untouched and reported `missing`. A second redemption by its own client reports
   * `reused` (with the record) instead.
   */
  consumeCode(id: string, now: number, clientId: string): Promise<ConsumeResult<AuthorizationCodeRecord>>;

  savePushedRequest(record: PushedRequestRecord): Promise<void>;
  /**
   * Atomic single use (RFC 9126 §4: a `request_uri` is used once), only by the client that
   * pushed it: for any other client nothing is consumed and the answer is `undefined`.
   */
  consumePushedRequest(id: string, now: number, clientId: string): Promise<PushedRequestRecord | undefined>;

  /** Store a new `auth_session` (first-party sign-in). */
  saveAuthSession(record: AuthSessionRecord): Promise<void>;
  /** The session while it is live and unused; expired or used → `undefined`. */
  findAuthSession(id: string, now: number): Promise<AuthSessionRecord | undefined>;
  /**
   * Atomic single use: retire session `id`, only if it is live, unused and belongs to
   * `owner.clientId` with `owner.jkt`, and store `next` (if given) in the same transaction.
   * `true` for the one caller that retired it; `false` changes nothing (and stores nothing).
   */
  advanceAuthSession(id: string, now: number, owner: { clientId: string; jkt: string }, next?: AuthSessionRecord): Promise<boolean>;
  /**
   * RFC 6238 §5.2: accept `subject`'s one-time code of time step `step` only if no code of this
   * or a later step was accepted before, and remember the step; atomic (of two concurrent calls
   * for one step, one gets `true`).
   */
  acceptTotpStep(subject: string, step: number): Promise<boolean>;

  /** Create a family with its first refresh token (stored by `tokenHash`). */
  createRefreshFamily(family: RefreshFamilyRecord, tokenHash: string): Promise<void>;
  /** The family a refresh token belongs to, and whether that token was already rotated. */
  findRefreshToken(tokenHash: string): Promise<{ family: RefreshFamilyRecord; rotated: boolean } | undefined>;
  /**
   * Atomically retire `tokenHash` and add `nextTokenHash` to its family. If `tokenHash` was
   * already retired, revoke the whole family instead and report `reused`.
   *
   * With `key` (the authorization server always passes it), in the same transaction: a token
   * issued while its family was bound to a key (RFC 9449 §5) needs that key, else `mismatch`
   * and nothing changes (a retired one does not revoke the family either: its presenter is not
   * its holder); and with `key.bind`, an unbound family becomes bound to `key.jkt`, and so is
   * the successor token. Without `key`, no key is checked or bound (the caller has checked).
   */
  rotateRefreshToken(tokenHash: string, nextTokenHash: string, now: number, key?: RefreshKeyCheck): Promise<RotateResult>;
  revokeRefreshFamily(familyId: string, now: number): Promise<void>;
  /** Revoke every family issued from one authorization code (code reuse, RFC 6749 §4.1.2). */
  revokeGrant(grantId: string, now: number): Promise<void>;

  /** Record a revoked access token by `jti` until it would have expired anyway (RFC 7009). */
  revokeAccessToken(jti: string, expiresAt: number): Promise<void>;
  isAccessTokenRevoked(jti: string, now: number): Promise<boolean>;

  listSigningKeys(now: number): Promise<SigningKeyRecord[]>;
  saveSigningKey(record: SigningKeyRecord): Promise<void>;

  /** Delete what has expired (codes, interactions, PAR requests, auth sessions, families, revocations, keys). */
  purgeExpired(now: number): Promise<void>;
}
