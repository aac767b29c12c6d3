/**
 * `/jwks` (RFC 7517 §5): the public signing keys, including the successor published ahead of
 * its use and retired keys whose tokens may still be valid (see `signing-keys.ts`).
 *
 * @module
 */
import type { AsContext } from '../context.js';
import { AsResponse } from '../as-response.js';

export async function jwksResponse(ctx: AsContext): Promise<AsResponse> {
  const keys = await ctx.keys.published(ctx.now());
  // Short enough that a resource server sees a successor key well within publishAhead.
  return new AsResponse(JSON.stringify({ keys }), 200, { 'Content-Type': 'application/jwk-set+json', 'Cache-Control': 'public, max-age=300' });
}
