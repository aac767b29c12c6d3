/**
 * Decode a compact JWS (a DPoP proof or a JWT access token) for display only. Nothing here
 * verifies a signature: the page shows what it sent and what it received; the servers verify.
 * Reuses core's compact-JWS split and bounded JSON decoding.
 *
 * @module
 */
import { decodeJsonSegment, splitCompact } from '../../src/core/proof/parse.js';

export interface DecodedJws {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/** The header and claims of a compact JWS, or `null` when it is not one (an opaque token). */
export function decodeJws(compact: string): DecodedJws | null {
  try {
    const parts = splitCompact(compact);
    return { header: decodeJsonSegment(parts.header, 'header'), claims: decodeJsonSegment(parts.payload, 'payload') };
  } catch {
    return null;
  }
}
