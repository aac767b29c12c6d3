/**
 * Recognising a server's demand for a (new) nonce, in both shapes RFC 9449 defines:
 *
 * - authorization server (§8): `400` with a JSON body `{"error":"use_dpop_nonce"}`;
 * - resource server (§9): `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"`.
 *
 * Peer clients handled only one of the two (alien-id/agent-id #21, bluesky-social/cookbook #30).
 *
 * @module
 */
import { findChallenge } from '../core/challenge.js';

/** Largest error body read when looking for `use_dpop_nonce` (token errors are tiny). */
const MAX_ERROR_BODY = 16 * 1024;

/** Whether `response` asks for a DPoP nonce. Reads a clone of the body; never throws. */
export async function isUseDPoPNonce(response: Response): Promise<boolean> {
  if (response.status === 401) {
    // §9: the RS signals it in the DPoP challenge (RFC 6750 §3 style parameters).
    return findChallenge(response.headers.get('www-authenticate'), 'DPoP')?.params.error === 'use_dpop_nonce';
  }
  if (response.status === 400) {
    // §8: the AS answers as any token-endpoint error (RFC 6749 §5.2), a JSON object.
    const type = response.headers.get('content-type') ?? '';
    if (!/json/i.test(type)) return false;
    const length = Number(response.headers.get('content-length') ?? '0');
    if (length > MAX_ERROR_BODY) return false;
    try {
      const text = await readLimited(response.clone(), MAX_ERROR_BODY);
      if (text === undefined) return false;
      const body = JSON.parse(text) as unknown;
      return typeof body === 'object' && body !== null && (body as { error?: unknown }).error === 'use_dpop_nonce';
    } catch {
      return false;
    }
  }
  return false;
}

/** The body as text, or `undefined` if it is longer than `limit` bytes. */
async function readLimited(response: Response, limit: number): Promise<string | undefined> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}
