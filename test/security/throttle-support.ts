/**
 * Helpers of the throttling tests: a clock the test moves, the sign-in form driven by hand
 * (one interaction, many posts), and servers on a storage (PGlite or PostgreSQL).
 */
import type { AuthorizationServerOptions } from '../../src/authorization-server/index.js';
import type { Storage } from '../../src/authorization-server/storage.js';
import { pkce, postForm, REDIRECT, startServer, type Running } from '../authorization-server/support/harness.js';

/** A clock the test sets (epoch seconds), started at the real time so proofs and keys make sense. */
export function testClock(): { now: () => number; advance(seconds: number): void; readonly t: number } {
  let t = Math.floor(Date.now() / 1000);
  return {
    now: () => t,
    advance(seconds) {
      t += seconds;
    },
    get t() {
      return t;
    },
  };
}

export interface SignInForm {
  /** Post the form with these credentials (same interaction, same cookie; extra headers if given). */
  post(username: string, password: string, headers?: Record<string, string>): Promise<Response>;
  /** The server the form posts to (to post it to another server of a fleet). */
  at(base: string): SignInForm;
}

/** Open the sign-in form of `spa` at `base` (GET /authorize) and return a poster for it. */
export async function openSignIn(base: string): Promise<SignInForm & { verifier: string }> {
  const p = pkce();
  const page = await fetch(`${base}/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' })}`, { redirect: 'manual' });
  if (page.status !== 200) throw new Error(`authorize answered ${page.status}`);
  const html = await page.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const path = new URL(/action="([^"]+)"/.exec(html)![1]!.replace(/&#38;/g, '&')).pathname;
  const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
  const make = (origin: string): SignInForm => ({
    post: (username, password, headers = {}) =>
      postForm(origin + path, { csrf, username, password, action: 'login' }, { headers: { cookie, ...headers } }),
    at: (other) => make(new URL(other).origin),
  });
  return { ...make(new URL(base).origin), verifier: p.verifier };
}

/** Start an authorization server with a test clock (and other options). */
export function serverWithClock(storage: Storage, clock: { now: () => number }, options: Partial<AuthorizationServerOptions> = {}): Promise<Running> {
  return startServer(storage, { clock: clock.now, ...options });
}

/** Status of each of `n` posts, in order. */
export async function statuses(n: number, post: () => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await post();
    await res.text();
    out.push(res.status);
  }
  return out;
}
