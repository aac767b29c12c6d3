/**
 * Resource indicators (RFC 8707): a client names the protected resource(s) it wants a token
 * for with `resource` (repeatable) at the authorization, PAR, token (and first-party
 * challenge) endpoints, and the access token's `aud` is exactly what was granted, so a resource
 * server that checks `aud` against its own identifier refuses a token minted for another API.
 *
 * The rules, all answered with `invalid_target` (RFC 8707 §2) when broken:
 * - each value is an absolute URI without fragment (§2);
 * - it is a resource this server knows (`resources` of the options, and the default audience);
 * - it is one the client may have (`clients[].resources`; default: every known resource);
 * - at the token endpoint, after an authorization request, a client may only narrow what the
 *   authorization granted (§2.2), and at a refresh, what the grant holds;
 * - nothing asked: the configured audience (`tokens.audience`, by default the issuer) when the
 *   client may have it, else every resource the client may have.
 *
 * @module
 */
import { OAuthError } from './errors.js';
import { getAll, type FormParams } from './form.js';
import type { ClientRecord } from './storage.js';
import { invalidArgument } from '../core/argument-error.js';

/** The largest number of `resource` values one request may carry. */
const MAX_RESOURCES = 10;
const MAX_LENGTH = 2048;

/** What the server knows about resources, resolved once at start. */
export interface ResourcePolicy {
  /** Every resource identifier tokens may be issued for. */
  readonly known: ReadonlySet<string>;
  /** The `resources` option as configured (metadata `protected_resources`, RFC 9728 §4). */
  readonly configured: readonly string[];
  /** `aud` when nothing is asked (the configured audience). */
  readonly defaultAudience: readonly string[];
}

function checkIdentifier(value: unknown, where: string): string {
  if (typeof value !== 'string' || !isResourceIdentifier(value)) throw invalidArgument(`${where} must be an absolute URI without fragment (RFC 8707 §2)`);
  return value;
}

/** RFC 8707 §2: an absolute URI (RFC 3986 §4.3), no fragment. */
export function isResourceIdentifier(value: string): boolean {
  if (value.length === 0 || value.length > MAX_LENGTH || value.includes('#') || /[\s\u0000-\u001f\u007f]/.test(value)) return false;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Build the policy from the server's options.
 *
 * @throws TypeError naming the bad key (`resources[1]`, `clients[2].resources[0] is not …`).
 */
export function createResourcePolicy(options: { resources?: readonly string[] | undefined; audience: string | readonly string[]; clients: readonly { resources?: readonly string[] | undefined }[] }): ResourcePolicy {
  if (options.resources !== undefined && !Array.isArray(options.resources)) throw invalidArgument('resources must be an array of resource identifiers');
  const configured = (options.resources ?? []).map((r, i) => checkIdentifier(r, `resources[${i}]`));
  const defaultAudience = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
  const known = new Set([...configured, ...defaultAudience]);
  for (const [i, client] of options.clients.entries()) {
    if (client?.resources === undefined) continue;
    if (!Array.isArray(client.resources)) throw invalidArgument(`clients[${i}].resources must be an array of resource identifiers`);
    for (const [j, r] of client.resources.entries()) {
      checkIdentifier(r, `clients[${i}].resources[${j}]`);
      if (!known.has(r)) throw invalidArgument(`clients[${i}].resources[${j}] (${r}) is not one of the server's resources (resources or tokens.audience)`);
    }
  }
  return { known, configured, defaultAudience };
}

/** The resources a client may have tokens for. */
export function allowedResources(policy: ResourcePolicy, client: ClientRecord): readonly string[] {
  return client.resources ?? [...policy.known];
}

/** The resources of a token when the client asked for none. */
export function defaultResources(policy: ResourcePolicy, client: ClientRecord): string[] {
  const allowed = new Set(allowedResources(policy, client));
  return policy.defaultAudience.every((r) => allowed.has(r)) ? [...policy.defaultAudience] : [...allowed];
}

/**
 * The `resource` values of a request (RFC 8707 §2: the parameter may repeat), checked for
 * syntax, without duplicates, in order. Empty when none was sent.
 *
 * @throws OAuthError `invalid_target`.
 */
export function requestedResources(params: FormParams): string[] {
  const values = getAll(params, 'resource');
  if (values.length > MAX_RESOURCES) throw new OAuthError('invalid_target', 'invalid_target', `too many resource values (at most ${MAX_RESOURCES})`);
  for (const value of values) {
    if (!isResourceIdentifier(value)) throw new OAuthError('invalid_target', 'invalid_target', `the resource ${JSON.stringify(value.slice(0, 200))} is not an absolute URI without fragment (RFC 8707 §2)`);
  }
  return [...new Set(values)];
}

function refuse(resource: string, why: string): OAuthError {
  return new OAuthError('invalid_target', 'invalid_target', `the resource ${JSON.stringify(resource.slice(0, 200))} ${why}`);
}

/** Every requested resource must be known to the server and allowed for the client. */
function checkAllowed(policy: ResourcePolicy, client: ClientRecord, requested: readonly string[]): void {
  const allowed = new Set(allowedResources(policy, client));
  for (const r of requested) {
    if (!policy.known.has(r)) throw refuse(r, 'is unknown to this server');
    if (!allowed.has(r)) throw refuse(r, 'is not allowed for this client');
  }
}

/**
 * The `resource` of an authorization request (authorization endpoint, PAR, first-party
 * challenge endpoint): the checked list, or `undefined` when none was sent (the token endpoint
 * then applies the default). Keep it with the request and the code; pass it back as `granted`
 * to {@link tokenResources}.
 *
 * @example
 * ```ts
 * const resources = authorizationResources(ctx.resources, client, params);
 * if (resources) kept.resource = resources.join(' ');   // with the pending request
 * await ctx.storage.saveCode({ …, resources });          // with the code
 * ```
 * @throws OAuthError `invalid_target` (answer it as the endpoint answers errors: by redirect at
 *   `/authorize`, as JSON elsewhere).
 */
export function authorizationResources(policy: ResourcePolicy, client: ClientRecord, params: FormParams): string[] | undefined {
  const requested = requestedResources(params);
  if (requested.length === 0) return undefined;
  checkAllowed(policy, client, requested);
  return requested;
}

/**
 * The resources of a token issued from an earlier grant (a code, a refresh-token family):
 * `granted` (or the client's default when the grant named none), narrowed to the `resource`
 * values of the token request (RFC 8707 §2.2), each of which must be among them.
 *
 * @returns `{ granted, audience }`: what the grant holds (kept with a refresh-token family) and
 *   what this token is for (its `aud`).
 * @throws OAuthError `invalid_target`.
 */
export function tokenResources(policy: ResourcePolicy, client: ClientRecord, params: FormParams, granted: readonly string[] | undefined): { granted: string[]; audience: string[] } {
  const held = granted && granted.length > 0 ? [...granted] : defaultResources(policy, client);
  const requested = requestedResources(params);
  if (requested.length === 0) return { granted: held, audience: held };
  const holding = new Set(held);
  for (const r of requested) if (!holding.has(r)) throw refuse(r, 'was not granted (a token request can only narrow the resources of its grant)');
  return { granted: held, audience: requested };
}

/**
 * The resources of a token asked for directly (client credentials): the requested ones, each
 * known and allowed for the client, or the client's default.
 *
 * @throws OAuthError `invalid_target`.
 */
export function directResources(policy: ResourcePolicy, client: ClientRecord, params: FormParams): string[] {
  const requested = requestedResources(params);
  if (requested.length === 0) return defaultResources(policy, client);
  checkAllowed(policy, client, requested);
  return requested;
}

/** The `aud` claim for a list of resources: one value as a string (RFC 7519 §4.1.3), several as an array. */
export function audienceClaim(resources: readonly string[]): string | string[] {
  return resources.length === 1 ? resources[0]! : [...resources];
}

/**
 * Add the checked `resource` of an authorization request to the parameters kept with it (space
 * separated: a resource identifier has no spaces), for the authorization endpoint and PAR.
 *
 * @throws OAuthError `invalid_target`.
 */
export function keepResources(policy: ResourcePolicy, client: ClientRecord, params: FormParams, kept: Record<string, string>): Record<string, string> {
  const resources = authorizationResources(policy, client, params);
  if (resources !== undefined) kept.resource = resources.join(' ');
  return kept;
}

/** The resources kept with an authorization request (see {@link keepResources}), for its code. */
export function keptResources(kept: Readonly<Record<string, string | undefined>>): string[] | undefined {
  return kept.resource ? kept.resource.split(' ') : undefined;
}
