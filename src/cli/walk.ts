/**
 * `dpopkit request URL` with nothing configured: the whole way from an API's URL to its answer.
 *
 * 1. The API answered 401 naming its metadata (RFC 9728 §5.1): discover the resource and its
 *    authorization server (`discoverResource`: identity of `resource` and `issuer` checked).
 * 2. Tokens for that issuer and resource in the profile (a previous walk, or `dpopkit login
 *    --resource` with that resource: first-party sign-in, same key file): use them, refreshing
 *    ahead of expiry; if the API takes them, done.
 * 3. A client registered at that issuer, kept per issuer in the profile; else register one
 *    (RFC 7591): a public native client with a loopback redirect URI (RFC 8252 §7.3: any port),
 *    `dpop_bound_access_tokens` (RFC 9449 §5.2).
 * 4. Sign in with the browser: authorization code + PKCE + `dpop_jkt` + `resource` (RFC 8707),
 *    pushed first when the server offers PAR; the URL is printed, and the callback awaited on
 *    `127.0.0.1` (a free port). A registered client is not a first-party app, so the
 *    authorization challenge endpoint (first-party sign-in) is not for it: that is
 *    `dpopkit login` with a first-party client.
 * 5. The tokens go into the profile with the key file beside it (both mode 0600), and the API is
 *    called again with a proof from that key.
 *
 * @module
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { discoverResource, type ResourceDiscovery } from '../client/discover-resource.js';
import type { DPoPClient, DPoPRequestInit } from '../client/dpop-client.js';
import type { DPoPKeyPair } from '../core/crypto/backend.js';
import { authorizationUrl, pushAuthorizationRequest } from '../client/oauth/authorize.js';
import { OAuthResponseError } from '../client/oauth/errors.js';
import { exchangeCode, refresh } from '../client/oauth/grants.js';
import { createPkce, randomState } from '../client/oauth/pkce.js';
import type { TokenResponse } from '../client/oauth/types.js';
import { register } from '../client/register.js';
import { checkFetchableUrl, createSafeFetch } from '../client/safe-fetch.js';
import { checkKeyFileMode, readOrCreateKeyFile } from './key-file.js';
import { writePrivateFile } from './profile.js';

/** A client this CLI registered at one issuer. */
export interface Registration {
  clientId: string;
  /** Registered redirect URI (loopback, any port at sign-in). */
  redirectUri: string;
  registeredAt?: number | undefined;
}

/** What the walk keeps in the profile file, beside what `dpopkit login` keeps there. */
interface WalkProfile {
  version: 1;
  issuer?: string;
  clientId?: string;
  username?: string | undefined;
  keyFile?: string;
  metadata?: Record<string, unknown>;
  tokens?: TokenResponse;
  authSession?: string | undefined;
  /** RFC 8707: the resource the tokens are for. */
  resource?: string;
  /** Clients registered by `dpopkit request`, by issuer. */
  registrations?: Record<string, Registration>;
  [member: string]: unknown;
}

export interface WalkOptions {
  url: string;
  init: DPoPRequestInit;
  /** The profile file (mode 0600). */
  profilePath: string;
  /** `--key`: the DPoP key file to use (default: the profile's key file). */
  keyFile?: string | undefined;
  scope?: string | undefined;
  /** Seconds to wait for the browser to come back. */
  signInTimeout: number;
  /**
   * A client with the CLI's hooks (verbose) around `key`; `bound` wraps its fetch (the
   * authorization server's endpoints go through the bounded fetch, the API's answer does not).
   */
  makeClient(key: DPoPKeyPair, bound?: (fetchFn: typeof fetch) => typeof fetch): DPoPClient;
  /** Progress for `--verbose`. */
  log(line: string): void;
  /** What the user must see (the URL to open): stderr. */
  tell(line: string): void;
}

const CALLBACK_PATH = '/callback';
const REGISTERED_REDIRECT = `http://127.0.0.1${CALLBACK_PATH}`;
const REFRESH_AHEAD = 30;

async function readWalkProfile(path: string): Promise<WalkProfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1 };
    throw err;
  }
  // Its refresh tokens are credentials: refuse a file others can read, as for key files.
  await checkKeyFileMode(path);
  const data = JSON.parse(text) as WalkProfile;
  if (typeof data !== 'object' || data === null || data.version !== 1) throw new Error(`${path} is not a dpopkit profile (version 1)`);
  return data;
}

const saveWalkProfile = (path: string, data: WalkProfile) => writePrivateFile(path, `${JSON.stringify(data, null, 2)}\n`);

/** The key file that goes with a profile (`profile.json` → `profile.key.json`). */
function keyFileBeside(profilePath: string): string {
  return join(dirname(profilePath), `${basename(profilePath).replace(/\.json$/i, '')}.key.json`);
}

/** Wait on 127.0.0.1 for the authorization response (RFC 8252 §7.3), then answer the browser. */
async function loopbackCallback(state: string, timeoutSeconds: number): Promise<{ redirectUri: string; result: Promise<URLSearchParams>; close(): void }> {
  let settle!: (value: URLSearchParams | Error) => void;
  const outcome = new Promise<URLSearchParams | Error>((resolve) => { settle = resolve; });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== CALLBACK_PATH || (!url.searchParams.has('code') && !url.searchParams.has('error'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    // RFC 6749 §10.12: only the response to our own request (its state) is taken.
    if (url.searchParams.get('state') !== state) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('this sign-in response is not for this dpopkit request (state mismatch)');
      return;
    }
    const failed = url.searchParams.get('error');
    res.writeHead(failed ? 400 : 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(`<!doctype html><meta charset="utf-8"><title>dpopkit</title><p>${failed ? 'The sign-in did not complete. You can close this tab.' : 'Signed in. You can close this tab and return to the terminal.'}</p>`);
    settle(url.searchParams);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const timer = setTimeout(() => settle(new Error(`no sign-in came back within ${timeoutSeconds} s`)), timeoutSeconds * 1000);
  const close = () => {
    clearTimeout(timer);
    server.closeAllConnections();
    server.close();
  };
  return {
    redirectUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}${CALLBACK_PATH}`,
    result: outcome.then((value) => {
      close();
      if (value instanceof Error) throw value;
      return value;
    }),
    close,
  };
}

/** Tokens of the profile, usable for this issuer and resource (refreshed when about to expire). */
async function profileToken(profile: WalkProfile, found: ResourceDiscovery, client: DPoPClient, log: (l: string) => void): Promise<{ token: string; refreshed: TokenResponse | undefined } | undefined> {
  const tokens = profile.tokens;
  if (!tokens || profile.issuer !== found.issuer || profile.resource !== found.resource || typeof profile.clientId !== 'string') return undefined;
  const now = Date.now() / 1000;
  if (tokens.expires_at === undefined || tokens.expires_at - REFRESH_AHEAD > now) return { token: tokens.access_token, refreshed: undefined };
  if (typeof tokens.refresh_token !== 'string') return undefined;
  try {
    const next = await refresh(client, found.authorizationServer, { clientId: profile.clientId, refreshToken: tokens.refresh_token, resource: found.resource });
    log('* refreshed the access token of the profile\n');
    return { token: next.access_token, refreshed: next };
  } catch (err) {
    if (!(err instanceof OAuthResponseError)) throw err;
    log(`* the profile's refresh token was refused (${err.error}): signing in again\n`);
    return undefined;
  }
}

/**
 * Walk from the API's 401 to its answer (see the module comment). Returns the API's response to
 * the request made with the new token.
 */
export async function walk(first: Response, options: WalkOptions): Promise<Response> {
  const { log, tell } = options;
  const found = await discoverResource(options.url, { challenge: first });
  log(`* resource ${found.resource} (metadata ${found.resourceMetadataUrl}); authorization server ${found.issuer}\n`);
  await first.body?.cancel().catch(() => undefined);

  const profile = await readWalkProfile(options.profilePath);
  const keyFile = options.keyFile ?? (profile.issuer === found.issuer && typeof profile.keyFile === 'string' ? profile.keyFile : keyFileBeside(options.profilePath));
  // The profile's directory is private (0700), as `dpopkit login` makes it.
  if (options.keyFile === undefined) await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  const key = await readOrCreateKeyFile(keyFile);
  if (key.created) log(`* created key file ${keyFile} (mode 0600)\n`);
  const client = options.makeClient(key.keyPair);
  // The authorization server's endpoints come from a document: https (or loopback), no
  // redirects, a size cap and a timeout, as for discovery (safe-fetch.ts).
  const asClient = options.makeClient(key.keyPair, (fetchFn) => createSafeFetch({ fetch: fetchFn }));

  // 2. Tokens from an earlier walk (or login) for this issuer and resource.
  const held = keyFile === profile.keyFile ? await profileToken(profile, found, asClient, log) : undefined;
  if (held) {
    if (held.refreshed) await saveWalkProfile(options.profilePath, { ...profile, tokens: held.refreshed });
    const response = await client.fetch(options.url, { ...options.init, accessToken: held.token });
    if (response.status !== 401) return response;
    log('* the API refused the profile\'s token: signing in again\n');
    await response.body?.cancel().catch(() => undefined);
  }

  // 3. A client at this issuer: the one registered before, or a new registration.
  const metadata = found.authorizationServer;
  let registration = profile.registrations?.[found.issuer];
  if (!registration) {
    const registered = await register(metadata, {
      client_name: 'dpopkit CLI',
      redirect_uris: [REGISTERED_REDIRECT],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      dpop_bound_access_tokens: true,
      ...(options.scope !== undefined ? { scope: options.scope } : {}),
    });
    registration = { clientId: registered.client_id, redirectUri: REGISTERED_REDIRECT, registeredAt: registered.client_id_issued_at };
    profile.registrations = { ...profile.registrations, [found.issuer]: registration };
    await saveWalkProfile(options.profilePath, profile);
    log(`* registered client ${registration.clientId} at ${found.issuer} (RFC 7591), kept in ${options.profilePath}\n`);
  } else log(`* client ${registration.clientId}, registered at ${found.issuer} before\n`);

  // 4. Sign in with the browser; the code is bound to this key (dpop_jkt) and to the resource.
  const state = randomState();
  const pkce = await createPkce();
  const callback = await loopbackCallback(state, options.signInTimeout);
  let tokens: TokenResponse;
  try {
    const request = {
      clientId: registration.clientId,
      redirectUri: callback.redirectUri,
      state,
      codeChallenge: pkce.codeChallenge,
      dpopJkt: await client.thumbprint(),
      resource: found.resource,
      ...(options.scope !== undefined ? { scope: options.scope } : {}),
    };
    const url = typeof metadata.pushed_authorization_request_endpoint === 'string'
      ? await pushAuthorizationRequest(asClient, metadata, request)
      : authorizationUrl(metadata, request);
    // The user is sent there: https (or loopback for development) like every other URL of the walk.
    checkFetchableUrl(url, 'the authorization endpoint');
    tell(`To sign in to ${found.resourceMetadata.resource_name ?? found.resource}, open this URL in a browser:\n\n  ${url.href}\n\nWaiting for the browser to come back to ${callback.redirectUri} …\n`);
    const back = await callback.result;
    const error = back.get('error');
    if (error !== null) throw new OAuthResponseError(error, { ...(back.get('error_description') ? { error_description: back.get('error_description')! } : {}) });
    tokens = await exchangeCode(asClient, metadata, {
      clientId: registration.clientId,
      code: back.get('code')!,
      redirectUri: callback.redirectUri,
      codeVerifier: pkce.codeVerifier,
      // RFC 9207: the response must come from this issuer when it says so.
      ...(back.get('iss') !== null ? { iss: back.get('iss')! } : {}),
      resource: found.resource,
    });
  } catch (err) {
    callback.close();
    // A registration the server no longer knows: forget it, so the next run registers anew.
    if (err instanceof OAuthResponseError && err.error === 'invalid_client') {
      delete profile.registrations?.[found.issuer];
      await saveWalkProfile(options.profilePath, profile);
    }
    throw err;
  }
  log(`* signed in: token_type=${tokens.token_type}${tokens.scope !== undefined ? ` scope=${tokens.scope}` : ''}\n`);

  // 5. Keep the tokens (as dpopkit login does: request --profile uses and refreshes them).
  await saveWalkProfile(options.profilePath, {
    ...profile,
    version: 1,
    issuer: found.issuer,
    clientId: registration.clientId,
    username: undefined,
    keyFile,
    metadata: {
      issuer: metadata.issuer,
      token_endpoint: metadata.token_endpoint,
      revocation_endpoint: metadata.revocation_endpoint,
      authorization_endpoint: metadata.authorization_endpoint,
    },
    tokens,
    authSession: undefined,
    resource: found.resource,
  });
  return client.fetch(options.url, { ...options.init, accessToken: tokens.access_token });
}
