/**
 * The plain values the resource server works on: a request as any framework can describe it,
 * the principal of an accepted request and the full HTTP answer of a refused one.
 *
 * @module
 */
import type { ResourceServerErrorName, ResourceServerReason } from './errors.js';
import type { AuthenticationRequirement } from './step-up.js';

/**
 * Request headers: a Web `Headers`, or a record whose values are strings or arrays (Node's
 * `req.headersDistinct` keeps repeated `Authorization`/`DPoP` fields apart; use it).
 */
export type HeadersLike = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** What `verify` needs to know about a request. */
export interface RequestLike {
  /** The request method as received (`htm` is compared case-sensitively, RFC 9449 §4.3 (8)). */
  method: string;
  /** The request target: origin-form (`/path?query`, Node) or absolute (`https://host/path`, Web `Request.url`). */
  url: string;
  headers: HeadersLike;
  /** The immediate peer's address; forwarded headers are honoured only when it is a trusted proxy. */
  remoteAddress?: string | undefined;
  /** The scheme the connection used, when `url` is origin-form (default `http`). */
  protocol?: 'http' | 'https' | undefined;
  /**
   * The request target exactly as received, when `url` is a runtime's parsed copy of it (Hono on
   * @hono/node-server): URL parsing removes dot segments, so they are looked for here.
   */
  rawTarget?: string | undefined;
}

/** Who made an accepted request. */
export interface Principal {
  /** `sub` of the token (RFC 9068 §2.2, RFC 7662 §2.2). */
  subject: string | undefined;
  /** `client_id` of the token. */
  clientId: string | undefined;
  /** `scope` of the token, split on spaces. */
  scopes: string[];
  /** Every claim of the JWT, or every member of the introspection response. */
  claims: Readonly<Record<string, unknown>>;
  /** `cnf.jkt`: the thumbprint of the key the token is bound to (DPoP-bound tokens only). */
  jkt?: string;
  /** `DPoP` for a DPoP-bound token with a valid proof; `Bearer` for an unbound token. */
  scheme: 'DPoP' | 'Bearer';
}

/** An accepted request: the principal, and headers to add to the response (e.g. the next `DPoP-Nonce`). */
export interface Accepted {
  ok: true;
  principal: Principal;
  headers: Record<string, string>;
}

/** The JSON body of a refusal (RFC 6750 §3 error codes). */
export interface RejectionBody {
  error?: string;
  error_description: string;
  scope?: string;
}

/** A refused request with its complete HTTP answer. */
export interface Rejected {
  ok: false;
  status: number;
  /** `WWW-Authenticate`, `Cache-Control`, and `DPoP-Nonce` when a nonce is due. */
  headers: Record<string, string>;
  body: RejectionBody;
  /** Stable machine code (metrics, logs, tests). */
  reason: ResourceServerReason;
  /** The RFC error name, or `undefined` when no credentials were sent (RFC 6750 §3.1). */
  error: ResourceServerErrorName | undefined;
}

export type VerifyResult = Accepted | Rejected;

/** What a route asks of `verify` beyond a valid token and proof. */
export interface VerifyOptions {
  /**
   * Scopes the token must grant, every one (RFC 6750 §3.1): otherwise the refusal is 403
   * `insufficient_scope` with a challenge naming them.
   */
  scopes?: readonly string[];
  /**
   * RFC 9470 step-up: the `acr` values the route accepts and how old the sign-in (`auth_time`)
   * may be; otherwise 401 `insufficient_user_authentication` with `acr_values` / `max_age` in
   * the challenge of the scheme used.
   */
  authentication?: AuthenticationRequirement;
}
