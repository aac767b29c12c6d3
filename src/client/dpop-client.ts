/**
 * `createDPoPClient`: a `fetch` that proves possession of the client's key on every request
 * (RFC 9449 §4, §7), remembers server nonces per origin and answers a nonce demand with exactly
 * one re-signed retry (§8, §9).
 *
 * @module
 */
import type { DPoPAlgorithm } from '../core/crypto/algorithms.js';
import type { DPoPKeyPair, KeyPairLike, PublicJwk } from '../core/crypto/backend.js';
import { createProofSigner } from '../core/proof/create.js';
import type { KeyStore } from './key-store/types.js';
import { createKeyHolder } from './keys.js';
import { createNonceCache, type NonceCache } from './nonce-cache.js';
import { isUseDPoPNonce } from './nonce-error.js';

/** What the `onProof` hook is told about each proof the client signs. */
export interface ProofInfo {
  /** `htm`: the method as sent. */
  method: string;
  /** The full request URL (the proof's `htu` is this without query and fragment). */
  url: string;
  /** The compact proof JWS, as sent in the `DPoP` header. */
  proof: string;
}

export interface DPoPClientOptions {
  /**
   * The key pair to sign with: a {@link DPoPKeyPair} (from `generateKeyPair`, `importKeyPair` or a
   * key store), or keys made elsewhere (a WebCrypto `CryptoKeyPair`, a pair of `KeyObject`s),
   * whose alg is read from the key. Without it, the client loads one from `keyStore` or
   * generates one.
   */
  key?: DPoPKeyPair | KeyPairLike;
  /** Where the key is kept between runs; an empty store gets a newly generated key. */
  keyStore?: KeyStore;
  /** Algorithm for generated keys (default `ES256`). */
  alg?: DPoPAlgorithm;
  /** The `fetch` to send requests with (default `globalThis.fetch`, looked up at call time). */
  fetch?: typeof fetch;
  /** Origins whose nonce is remembered at most (default 64, least recently used dropped). */
  maxNonceOrigins?: number;
  /** Called with every proof signed (for logging, the CLI's `--verbose`, the demo). */
  onProof?: (info: ProofInfo) => void;
}

/** Extra `fetch` options of {@link DPoPClient.fetch}. */
export interface DPoPRequestInit extends RequestInit {
  /** Access token to present: sent as `Authorization: DPoP <token>` with `ath` in the proof (§7.1). */
  accessToken?: string;
  /**
   * `DPoP` (default): a proof with `ath` accompanies the token. `Bearer`: the token is sent as
   * `Authorization: Bearer <token>` with no proof at all (RFC 6750; for servers that issued a
   * plain bearer token, and for showing that a resource server refuses a bound token so used).
   */
  tokenType?: 'DPoP' | 'Bearer';
}

export interface DPoPClient {
  /**
   * `fetch` with a fresh DPoP proof (`htm` = the method as sent, `htu` = the URL without query
   * and fragment, `ath` when `accessToken` is given, the origin's latest nonce when one is known).
   *
   * Every response's `DPoP-Nonce` is remembered for its origin, success or error (§8, §9). When
   * the server demands a nonce (`400` + `{"error":"use_dpop_nonce"}` from an authorization
   * server, `401` + `WWW-Authenticate: DPoP error="use_dpop_nonce"` from a resource server),
   * the request is sent again exactly once, with a newly signed proof (new `jti`) carrying the new
   * nonce. There is no retry when the server gave no usable new nonce, or gave the very nonce
   * just sent (a server that keeps asking would otherwise loop).
   *
   * A request whose body cannot be replayed (`init.body` is a `ReadableStream`) is never
   * retried: the nonce-demanding `400`/`401` response is returned as is. Its nonce is remembered,
   * so the caller may build the request again and send it. Network failures reject as `fetch`
   * does.
   */
  fetch(input: string | URL | Request, init?: DPoPRequestInit): Promise<Response>;
  /**
   * Sign a proof for `method` and `url` (query and fragment dropped). Without `options.nonce`,
   * the nonce remembered for `url`'s origin is used, if any.
   */
  proof(method: string, url: string | URL, options?: { accessToken?: string; nonce?: string }): Promise<string>;
  /** RFC 7638 thumbprint (`jkt`) of the current key: the `dpop_jkt` to bind codes to (§10). */
  thumbprint(): Promise<string>;
  /** Public JWK of the current key. */
  publicJwk(): Promise<PublicJwk>;
  /**
   * Replace the key with a newly generated one (saved to the key store, if any). Tokens bound to
   * the old key (`cnf.jkt`) no longer work with this client: obtain new ones after rotating.
   */
  rotateKey(): Promise<void>;
  /** Latest `DPoP-Nonce` per origin (bounded in origins and in nonce length, draft-dpop #92). */
  readonly nonces: NonceCache;
  /** Hook called with every proof signed; may be set at any time. */
  onProof?: ((info: ProofInfo) => void) | undefined;
}

/** Whether the request can be sent a second time (its body is not a one-shot stream). */
function replayable(input: string | URL | Request, init: RequestInit): boolean {
  if (init.body !== undefined && init.body !== null) return !(typeof ReadableStream !== 'undefined' && init.body instanceof ReadableStream);
  // A Request's own body is cloned before the first send (the tee keeps a copy for the retry).
  return !(input instanceof Request && input.bodyUsed);
}

/**
 * Create a DPoP client.
 *
 * @example
 * ```ts
 * const client = createDPoPClient();               // ephemeral ES256 key, non-extractable
 * const res = await client.fetch('https://api.example/items', { accessToken });
 * ```
 */
export function createDPoPClient(options: DPoPClientOptions = {}): DPoPClient {
  const keys = createKeyHolder(options);
  const nonces = createNonceCache(options.maxNonceOrigins);
  // This client's own signer: its keys' encoded headers, the ath of its access tokens and its
  // jti randomness stay with it (nothing shared with another client in the process).
  const signer = createProofSigner();
  // Looked up per call, so a `fetch` patched later (tests, service workers) is honoured and a
  // browser's fetch is never called detached from `globalThis`.
  const send = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));

  const client: DPoPClient = {
    nonces,
    onProof: options.onProof,

    async proof(method, url, proofOptions = {}) {
      const href = String(url);
      const nonce = proofOptions.nonce ?? nonces.get(href);
      const { pair, alg } = await keys.current();
      const proof = await signer.sign(pair, {
        ...(alg !== undefined ? { alg } : {}),
        htm: method,
        htu: href,
        ...(proofOptions.accessToken !== undefined ? { accessToken: proofOptions.accessToken } : {}),
        ...(nonce !== undefined ? { nonce } : {}),
      });
      client.onProof?.({ method, url: href, proof });
      return proof;
    },

    async fetch(input, init = {}) {
      const { accessToken, tokenType = 'DPoP', ...requestInit } = init;
      const canRetry = replayable(input, requestInit);
      const template = new Request(input, requestInit);

      const attempt = async (request: Request, useNonce?: string): Promise<{ response: Response; sent: string | undefined; issued: string | undefined }> => {
        // htm is the method as it goes on the wire: fetch upper-cases only the standard methods.
        let nonce: string | undefined;
        if (accessToken !== undefined && tokenType === 'Bearer') {
          request.headers.set('authorization', `Bearer ${accessToken}`);
          request.headers.delete('dpop');
        } else {
          nonce = useNonce ?? nonces.get(request.url);
          request.headers.set('dpop', await client.proof(request.method, request.url, {
            ...(accessToken !== undefined ? { accessToken } : {}),
            ...(nonce !== undefined ? { nonce } : {}),
          }));
          // RFC 9449 §7.1: a DPoP-bound token travels under the DPoP scheme, never Bearer.
          if (accessToken !== undefined) request.headers.set('authorization', `DPoP ${accessToken}`);
        }
        const response = await send(request);
        // §8, §9: remember the server's latest nonce from every response, success or error.
        const header = response.headers.get('dpop-nonce')?.trim();
        // Filed under the origin that answered (after any redirect fetch followed).
        const issued = header !== undefined && nonces.set(response.url || request.url, header) ? header : undefined;
        return { response, sent: nonce, issued };
      };

      const first = await attempt(canRetry ? template.clone() : template);
      if (!canRetry || !(await isUseDPoPNonce(first.response))) return first.response;
      // Loop protection (requests_oauth2client #97, peerd #301): only a *new* nonce earns the
      // one retry; a server repeating the nonce just sent, or giving none (or an unusable one),
      // gets its answer back. A stale cached nonce is no obstacle (opentdf/web-sdk #939).
      if (first.issued === undefined || first.issued === first.sent) return first.response;
      await first.response.body?.cancel().catch(() => undefined);
      // A new proof (new jti, new iat) with the new nonce: never resend the old proof (hol-guard #1151).
      return (await attempt(template, first.issued)).response;
    },

    async thumbprint() {
      return (await keys.current()).jkt;
    },
    async publicJwk() {
      return { ...(await keys.current()).publicJwk };
    },
    async rotateKey() {
      await keys.rotate();
    },
  };
  return client;
}
