/**
 * What every endpoint shares: resolved configuration, ports and caches. Built once by
 * `createAuthorizationServer`; endpoints receive it explicitly (no globals).
 *
 * @module
 */
import type { Logger } from '../core/logger.js';
import type { NonceSource } from '../core/nonce.js';
import type { ProofVerifier } from '../core/proof/verify.js';
import type { ReplayCache } from '../core/replay.js';
import type { ClientDirectory } from './clients.js';
import type { RegistrationConfig } from './registration.js';
import type { ResourcePolicy } from './resource-indicators.js';
import type { ReplayQuota } from './replay-quota.js';
import type { SigningKeys } from './signing-keys.js';
import type { Storage } from './storage.js';
import type { Throttle } from './throttle.js';

export type { Logger };

export interface Endpoints {
  authorization: string;
  token: string;
  par: string;
  introspection: string;
  revocation: string;
  jwks: string;
  login: string;
  /** RFC 7591 §3 (served only when registration is configured) */
  registration: string;
  /** draft-ietf-oauth-first-party-apps §4.1 */
  authorizationChallenge: string;
}

export interface UserRecord {
  username: string;
  passwordHash: string;
  name?: string;
  /** RFC 6238 secret (decoded): first-party sign-in asks for a code after the password. */
  totpSecret?: Uint8Array;
  /** First-party sign-in answers `redirect_to_web` for this account (it signs in with a browser). */
  webOnly?: boolean;
}

export interface AsContext {
  issuer: string;
  /** Path prefix of the issuer URL ('' or '/base'), under which every route is mounted. */
  basePath: string;
  endpoints: Endpoints;
  storage: Storage;
  replayCache: ReplayCache;
  /** Live proof `jti`s one holder may have in `replayCache`: a confidential client, or one key of a public client. */
  replayQuota: { counter: ReplayQuota; perClient: number; perKey: number };
  /** Clients configured with `introspection: true`: the only ones the introspection endpoint answers (RFC 7662 §2.1, §4). */
  introspectors: ReadonlySet<string>;
  /** Clients configured with `firstParty: true`: the only ones the authorization challenge endpoint answers. */
  firstParty: ReadonlySet<string>;
  /** First-party sign-in: wrong passwords and codes one flow may have before `redirect_to_web`. */
  firstPartyPolicy: { maxFailures: number };
  /** This server's proof verifier (its own header cache: nothing shared with another server). */
  verifier: ProofVerifier;
  /** Set when nonces are required (RFC 9449 §8). */
  nonce: NonceSource | undefined;
  /** `threadpool`: proofs checked and access tokens signed on the threadpool. */
  dpop: { algs: readonly string[]; maxAge: number; maxFuture: number; threadpool: boolean };
  ttl: { accessToken: number; refreshToken: number; code: number; par: number; interaction: number; authSession: number };
  audience: string | string[];
  /** RFC 8707: the resources tokens may be issued for, and the default audience. */
  resources: ResourcePolicy;
  /** RFC 7591: set when the registration endpoint is on. */
  registration?: RegistrationConfig | undefined;
  /** Every token request must carry a proof (metadata `dpop_bound_access_tokens_required`). */
  dpopRequired?: boolean;
  keys: SigningKeys;
  clients: ClientDirectory;
  users: ReadonlyMap<string, UserRecord>;
  /** Failed-attempt throttling (username, address, client_id) and the bound on scrypt work. */
  throttle: Throttle;
  /** Every scope some client may ask for (metadata `scopes_supported`). */
  scopes: readonly string[];
  /** Shown on the sign-in page (`loginHint`). */
  loginHint: string | undefined;
  log: Logger;
  /** Epoch seconds (integer). */
  now(): number;
}
