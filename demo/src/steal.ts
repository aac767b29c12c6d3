/**
 * "Use the token without the key": replay a leaked access token the two ways a thief could, and
 * report the API's refusal. This is the point of DPoP (RFC 9449 §1, §7): the token alone is not
 * enough.
 *
 * @module
 */
import { createDPoPClient, generateKeyPair, keyThumbprint } from '../../src/client/index.js';

/** What the API answered to one attempt. */
export interface Attempt {
  status: number;
  /** The `WWW-Authenticate` header (the server must expose it to this origin through CORS). */
  challenge: string | null;
  body: string;
  /** The thief's key thumbprint, for attempt (a). */
  thiefJkt?: string;
  /** A network failure instead of an answer. */
  error?: string;
}

async function describe(response: Response): Promise<Attempt> {
  return { status: response.status, challenge: response.headers.get('www-authenticate'), body: await response.text().catch(() => '') };
}

/**
 * (a) The token with a valid DPoP proof from a different key: the proof itself is fine, but its
 * key's thumbprint is not the token's `cnf.jkt` (RFC 9449 §4.3 (12), §7.1 → `invalid_token`).
 * The thief's client handles the nonce round-trip exactly as the real one does.
 */
export async function withOtherKey(api: string, accessToken: string): Promise<Attempt> {
  const key = await generateKeyPair('ES256');
  const thiefJkt = await keyThumbprint(key);
  try {
    const thief = createDPoPClient({ key });
    return { ...(await describe(await thief.fetch(api, { accessToken }))), thiefJkt };
  } catch (cause) {
    return { status: 0, challenge: null, body: '', thiefJkt, error: (cause as Error).message };
  }
}

/**
 * (b) The token as a Bearer token (RFC 6750): a DPoP-bound token must not be accepted without a
 * proof (RFC 9449 §7.2), whatever scheme it comes under.
 */
export async function asBearer(api: string, accessToken: string): Promise<Attempt> {
  try {
    return await describe(await fetch(api, { headers: { authorization: `Bearer ${accessToken}` } }));
  } catch (cause) {
    return { status: 0, challenge: null, body: '', error: (cause as Error).message };
  }
}
