/**
 * `/jwks` (RFC 7517 §5): the public signing keys, including the successor published ahead of
 * its use and retired keys whose tokens may still be valid (see `signing-keys.ts`).
 *
 * @module
 */
import type { AsContext } from '../context.js';

export async function jwksResponse(ctx: AsContext): Promise<Response> {
  const keys = await ctx.keys.published(ctx.now());
  return new Response(JSON.stringify({ keys }), {
    // Short enough that a resource server sees a successor key well within publishAhead.
    headers: { 'Content-Type': 'application/jwk-set+json', 'Cache-Control': 'public, max-age=300' },
  });
}
