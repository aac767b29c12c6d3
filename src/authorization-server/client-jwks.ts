/**
 * A registered client's keys at its `jwks_uri` (RFC 7591 §2), for `private_key_jwt` (RFC 7523):
 * fetched when the client authenticates, over https only, without following redirects, within
 * 5 s and 64 KiB; kept 5 minutes, and fetched again (at most every 30 s) when an assertion names
 * a key the set does not have (the client rotated). Weak keys are dropped, as for `jwks`.
 *
 * The server fetches a URL a client chose: that is the price of `jwks_uri`, bounded by the
 * rules above (only https, only when that client authenticates, no redirect to elsewhere).
 *
 * @module
 */
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet } from 'jose';
import { keyWeakness } from '../core/weak-keys.js';
import type { AsContext } from './context.js';
import type { ClientRecord } from './storage.js';

type KeySet = ReturnType<typeof createLocalJWKSet>;

const TTL = 300;
const MIN_REFETCH = 30;
const MAX_BYTES = 64 * 1024;
const TIMEOUT_MS = 5000;
const MAX_ENTRIES = 1000;

interface Entry {
  uri: string;
  set: KeySet;
  fetchedAt: number;
}

/** One cache per server (keyed by its context, so two servers share nothing). */
const caches = new WeakMap<AsContext, Map<string, Entry>>();

/** Thrown when the keys cannot be read: the client fails authentication (`invalid_client`). */
export class ClientJwksError extends Error {}

async function download(ctx: AsContext, uri: string): Promise<KeySet> {
  const url = new URL(uri);
  if (url.protocol !== 'https:') throw new ClientJwksError('the jwks_uri is not https');
  const fetchFn = ctx.registration?.fetch ?? ((input: string, init?: RequestInit) => globalThis.fetch(input, init));
  let response: Response;
  try {
    response = await fetchFn(uri, { headers: { accept: 'application/jwk-set+json, application/json' }, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch {
    throw new ClientJwksError('the jwks_uri could not be reached');
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new ClientJwksError(`the jwks_uri answered HTTP ${response.status}`);
  }
  const reader = response.body?.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new ClientJwksError('the jwks_uri document is too large');
    }
    chunks.push(value);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(Buffer.concat(chunks)));
  } catch {
    throw new ClientJwksError('the jwks_uri document is not JSON');
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new ClientJwksError('the jwks_uri document is not a JWK Set');
  const usable = keys.filter((k) => typeof k === 'object' && k !== null && keyWeakness(k) === undefined && !('d' in k));
  if (usable.length === 0) throw new ClientJwksError('the jwks_uri has no usable keys (weak keys are refused)');
  return createLocalJWKSet({ keys: usable } as JSONWebKeySet);
}

/**
 * The key-set function `jwtVerify` takes, for a client registered with `jwks_uri`.
 */
export function remoteClientKeys(ctx: AsContext, client: ClientRecord & { jwksUri: string }): KeySet {
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, (cache = new Map()));
  const store = cache;
  const load = async (force: boolean): Promise<Entry> => {
    const now = ctx.now();
    const hit = store.get(client.clientId);
    if (hit && hit.uri === client.jwksUri && (force ? now - hit.fetchedAt < MIN_REFETCH : now - hit.fetchedAt < TTL)) return hit;
    const entry = { uri: client.jwksUri, set: await download(ctx, client.jwksUri), fetchedAt: now };
    if (store.size >= MAX_ENTRIES) store.clear();
    store.set(client.clientId, entry);
    return entry;
  };
  return (async (header, token) => {
    const entry = await load(false);
    try {
      return await entry.set(header, token);
    } catch (err) {
      // A key the set does not have: the client may have rotated; look again (rate-limited).
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      const again = await load(true);
      if (again === entry) throw err;
      return again.set(header, token);
    }
  }) as KeySet;
}
