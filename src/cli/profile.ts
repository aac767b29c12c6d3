/**
 * The sign-in profile of `dpopkit login`, `request --profile` and `logout`: one JSON file (mode
 * 0600, written atomically) with the issuer's endpoints, the client, the user, the DPoP-bound
 * tokens and the `auth_session` for a step-up; the DPoP key in its own key file beside it (mode
 * 0600, the rule of every CLI key file). Tokens are bound to that key (RFC 9449 §5): the profile
 * is no use without it, and the key alone gets no token.
 *
 * `request --profile` refreshes the access token when it is about to expire (and once more when
 * the API answers `invalid_token`), with a proof from the same key, and writes the rotated
 * refresh token back (RFC 9700 §4.14.2: the old one is dead).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { DPoPClient, DPoPRequestInit } from '../client/dpop-client.js';
import { refresh } from '../client/oauth/grants.js';
import type { AuthorizationServerMetadata, TokenResponse } from '../client/oauth/types.js';
import { parseChallenges } from '../core/challenge.js';
import { checkKeyFileMode } from './key-file.js';
import { usage } from './output.js';

/** What a profile file holds (version 1). */
export interface ProfileData {
  version: 1;
  issuer: string;
  clientId: string;
  username: string | undefined;
  /** The DPoP key file (absolute path). */
  keyFile: string;
  /** The endpoints the commands need, from the issuer's metadata (RFC 8414). */
  metadata: Pick<AuthorizationServerMetadata, 'issuer' | 'token_endpoint' | 'revocation_endpoint' | 'authorization_endpoint' | 'authorization_challenge_endpoint'>;
  tokens: TokenResponse;
  /** draft-ietf-oauth-first-party-apps §5.3.1: kept for a step-up, replaced by every new one. */
  authSession: string | undefined;
  /**
   * RFC 8707: the resource the tokens are for (`dpopkit login --resource`, or the walk's
   * discovered one); several as an array. The walk reuses the tokens for the same one only.
   */
  resource?: string | string[];
}

/** Refresh this many seconds before the access token expires. */
const REFRESH_AHEAD = 30;

/** `$XDG_CONFIG_HOME/dpopkit/profile.json`, else `~/.config/dpopkit/profile.json`. */
export function defaultProfilePath(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'dpopkit', 'profile.json');
}

/** The key file that goes with a profile: `profile.json` → `profile.key.json`, in the same directory. */
export function keyFileFor(profilePath: string): string {
  const name = basename(profilePath).replace(/\.json$/i, '');
  return join(dirname(profilePath), `${name}.key.json`);
}

/** Write `text` to `path` with mode 0600, atomically (a temporary file, then rename). */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(temporary, text, { mode: 0o600, flag: 'wx' });
  try {
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}

export async function saveProfile(path: string, data: ProfileData): Promise<void> {
  await writePrivateFile(path, `${JSON.stringify(data, null, 2)}\n`);
}

/** Read a profile, refusing one that others can read (its refresh token is a credential). */
export async function loadProfile(path: string): Promise<ProfileData> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw usage(`profile ${path} does not exist; sign in first: dpopkit login --issuer URL --client-id ID --profile ${path}`);
    throw usage(`profile ${path} cannot be read (${code ?? (err as Error).message})`);
  }
  await checkKeyFileMode(path).catch(() => {
    throw usage(`profile ${path} is readable by other users; its tokens must be taken as leaked: run dpopkit logout --profile ${path} and sign in again`);
  });
  let data: ProfileData;
  try {
    data = JSON.parse(text) as ProfileData;
  } catch {
    throw usage(`profile ${path} is not JSON; sign in again with dpopkit login`);
  }
  if (data?.version !== 1 || typeof data.keyFile !== 'string' || typeof data.tokens?.access_token !== 'string') {
    throw usage(`profile ${path} is not a dpopkit profile; sign in again with dpopkit login`);
  }
  return data;
}

/** Delete a profile and its key file (what does not exist is fine). */
export async function forgetProfile(path: string, data: ProfileData | undefined): Promise<string[]> {
  const removed: string[] = [];
  for (const file of [path, data?.keyFile ?? keyFileFor(path)]) {
    if (await stat(file).then(() => true, () => false)) {
      await rm(file, { force: true });
      removed.push(file);
    }
  }
  return removed;
}

export function resolvePath(path: string | undefined): string {
  return resolve(path ?? defaultProfilePath());
}

/**
 * A signed-in profile in use: its access token (refreshed ahead of expiry and written back),
 * and requests that answer an `invalid_token` with one refresh and one retry.
 */
export interface OpenProfile {
  readonly data: ProfileData;
  /** A usable access token, refreshed first when it expires within 30 s. */
  accessToken(client: DPoPClient): Promise<string>;
  /** `client.fetch` with the profile's token; on 401 `invalid_token`, refresh once and send again. */
  fetch(client: DPoPClient, url: string, init: DPoPRequestInit, log?: (line: string) => void): Promise<Response>;
}

export function openProfile(path: string, data: ProfileData, now: () => number = () => Date.now() / 1000): OpenProfile {
  const state = data;
  const refreshTokens = async (client: DPoPClient): Promise<string> => {
    const refreshToken = state.tokens.refresh_token;
    const tokenEndpoint = state.metadata.token_endpoint;
    if (typeof refreshToken !== 'string' || typeof tokenEndpoint !== 'string') {
      throw usage(`the access token in ${path} has expired and there is no refresh token; sign in again with dpopkit login`);
    }
    const tokens = await refresh(client, { tokenEndpoint }, { clientId: state.clientId, refreshToken });
    state.tokens = tokens;
    // Written at once: the old refresh token is dead after rotation.
    await saveProfile(path, state);
    return tokens.access_token;
  };
  const current = async (client: DPoPClient): Promise<string> => {
    const expiresAt = state.tokens.expires_at;
    if (expiresAt !== undefined && expiresAt - REFRESH_AHEAD <= now()) return refreshTokens(client);
    return state.tokens.access_token;
  };
  return {
    data: state,
    accessToken: current,
    async fetch(client, url, init, log) {
      const response = await client.fetch(url, { ...init, accessToken: await current(client) });
      if (response.status !== 401 || typeof state.tokens.refresh_token !== 'string') return response;
      const invalid = parseChallenges(response.headers.get('www-authenticate')).some((c) => c.params.error === 'invalid_token');
      if (!invalid) return response;
      // Revoked, expired early, or signed by a key the API has not seen: one refresh, one retry.
      log?.('* the API refused the access token (invalid_token): refreshing once\n');
      await response.body?.cancel().catch(() => undefined);
      return client.fetch(url, { ...init, accessToken: await refreshTokens(client) });
    },
  };
}
