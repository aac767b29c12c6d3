/**
 * Test support for first-party sign-in (draft-ietf-oauth-first-party-apps): the clients and users
 * of the suites, a clock the test moves, and one call per challenge or token request, each with a
 * fresh DPoP proof from the key given.
 */
import { hashPassword, type AuthorizationServerOptions } from '../../../src/authorization-server/index.js';
import type { Storage } from '../../../src/authorization-server/storage.js';
import { decodeBase32, totp } from '../../../src/authorization-server/totp.js';
import { alicePasswordHash, basic, defaultClients, postForm, REDIRECT, SECRET, startServer, type DPoPKey, type Running } from './harness.js';

/** Bob's TOTP secret (base32, 160 bits). */
export const BOB_TOTP = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
export const BOB_SECRET = decodeBase32(BOB_TOTP);
export const ACR_PWD = 'urn:dpopkit:acr:pwd';
export const ACR_MFA = 'urn:dpopkit:acr:mfa';

let bobHash: Promise<string> | undefined;
let carolHash: Promise<string> | undefined;

/** The clients of the suites: the defaults, plus first-party `cli` (public, with a redirect URI for the browser fallback), `cli2` (public, no redirect URI) and `cli-conf` (confidential). */
export function firstPartyClients(): AuthorizationServerOptions['clients'] {
  return [
    ...defaultClients(),
    { clientId: 'cli', clientName: 'dpopkit CLI', tokenEndpointAuthMethod: 'none', firstParty: true, redirectUris: [REDIRECT], scope: 'read write' },
    { clientId: 'cli2', tokenEndpointAuthMethod: 'none', firstParty: true, scope: 'read' },
    { clientId: 'cli-conf', tokenEndpointAuthMethod: 'client_secret_basic', clientSecret: SECRET, firstParty: true, scope: 'read' },
  ];
}

/** alice (password only), bob (password + TOTP), carol (web-only). */
export async function firstPartyUsers(): Promise<NonNullable<AuthorizationServerOptions['users']>> {
  return [
    { username: 'alice', passwordHash: await alicePasswordHash() },
    { username: 'bob', passwordHash: await (bobHash ??= hashPassword('bob-password')), totpSecret: BOB_TOTP },
    { username: 'carol', passwordHash: await (carolHash ??= hashPassword('carol-password')), webOnly: true },
  ];
}

/** A clock the test moves (epoch seconds), started at the real time. */
export interface TestClock {
  now(): number;
  advance(seconds: number): void;
}
export function testClock(): TestClock {
  let t = Math.floor(Date.now() / 1000);
  return {
    now: () => t,
    advance(seconds) {
      t += seconds;
    },
  };
}

/** Start a server with the first-party clients and users (and a test clock, unless given). */
export async function startFirstParty(storage: Storage, options: Partial<AuthorizationServerOptions> = {}): Promise<Running & { clock: TestClock }> {
  const clock = testClock();
  const running = await startServer(storage, { clock: clock.now, clients: firstPartyClients(), users: await firstPartyUsers(), ...options });
  return { ...running, clock };
}

export interface Answer {
  status: number;
  body: Record<string, any>;
  headers: Headers;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

export interface CallOptions {
  /** No DPoP header at all. */
  noProof?: boolean;
  /** Send this proof instead of a fresh one. */
  proof?: string;
  nonce?: string;
  auth?: string;
  headers?: Record<string, string>;
}

/** The server a call goes to: its URL and its clock (proofs are made at the server's time). */
export interface Target {
  url: string;
  clock: TestClock;
}

/** A form as a record, or as URLSearchParams for a parameter that repeats (RFC 8707 `resource`). */
type Form = Record<string, string> | URLSearchParams;
const formBody = (params: Form): Record<string, string> | string => (params instanceof URLSearchParams ? params.toString() : params);

/** POST /authorize-challenge with a fresh proof from `key`. */
export async function challenge(target: Target, key: DPoPKey, params: Form, options: CallOptions = {}): Promise<Answer> {
  const url = `${target.url}/authorize-challenge`;
  const dpop = options.noProof ? undefined : (options.proof ?? (await key.proof(url, { iat: target.clock.now(), ...(options.nonce === undefined ? {} : { nonce: options.nonce }) })));
  return answer(await postForm(url, formBody(params), { ...(dpop ? { dpop } : {}), ...(options.auth ? { auth: options.auth } : {}), ...(options.headers ? { headers: options.headers } : {}) }));
}

/** POST /token with a fresh proof from `key`. */
export async function token(target: Target, key: DPoPKey | undefined, params: Form, options: { auth?: string; nonce?: string } = {}): Promise<Answer> {
  const url = `${target.url}/token`;
  const dpop = key ? await key.proof(url, { iat: target.clock.now(), ...(options.nonce === undefined ? {} : { nonce: options.nonce }) }) : undefined;
  return answer(await postForm(url, formBody(params), { ...(dpop ? { dpop } : {}), ...(options.auth ? { auth: options.auth } : {}) }));
}

/** The current TOTP code of bob at the server clock (or another time). */
export const bobCode = (at: number): string => totp(BOB_SECRET, at);

export { basic, SECRET };
