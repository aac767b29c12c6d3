/**
 * RFC 8707 `resource`: the API(s) a token is for, one parameter per value (it repeats), sent
 * with the authorization request and the token request (a token request may narrow).
 *
 * @module
 */

/** One resource identifier, or several. */
export type ResourceIndicator = string | readonly string[];

/** Append `resource` once per value (the parameter repeats, RFC 8707 §2). */
export function appendResource(params: URLSearchParams, resource: ResourceIndicator | undefined): void {
  if (resource === undefined) return;
  for (const value of typeof resource === 'string' ? [resource] : resource) params.append('resource', value);
}
