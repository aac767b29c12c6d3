/**
 * Attack: another client burns a pushed authorization request. `/authorize` consumed the
 * `request_uri` first and compared its client afterwards, so anyone who saw a `request_uri`
 * (it travels in the browser's address bar) could send it with another `client_id`: refused,
 * but the `request_uri` was used up and its own client's sign-in then failed.
 *
 * Defence (RFC 9126 §4: a `request_uri` is bound to the client that pushed it): the storage
 * consumes it only for that client, in one atomic statement (`… AND client_id = $3`). Another
 * client gets the error page `invalid_request_uri` (never a redirect) and the `request_uri`
 * stays usable, once, by its own client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type Running } from '../authorization-server/support/harness.js';

describe.each(STORAGES)('PAR request_uri burnt by another client on $name', (factory) => {
  let server: Running;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const opened = await factory.open();
    cleanup = opened.cleanup;
    server = await startServer(opened.storage);
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  const authorize = (clientId: string, requestUri: string) =>
    fetch(`${server.url}/authorize?client_id=${encodeURIComponent(clientId)}&request_uri=${encodeURIComponent(requestUri)}`, { redirect: 'manual' });

  async function push(clientId: string, auth?: string): Promise<{ requestUri: string; verifier: string }> {
    const p = pkce();
    const form: Record<string, string> = { response_type: 'code', redirect_uri: REDIRECT, scope: 'read', state: 'st', code_challenge: p.challenge, code_challenge_method: 'S256' };
    if (!auth) form.client_id = clientId;
    const res = await postForm(`${server.url}/par`, form, auth ? { auth } : {});
    expect(res.status).toBe(201);
    return { requestUri: (await res.json()).request_uri, verifier: p.verifier };
  }

  it('RFC 9126 §4: another client_id gets invalid_request_uri on a page; the owner then signs in with the same request_uri and redeems the code', async () => {
    const { requestUri, verifier } = await push('confidential', basic('confidential', SECRET));
    for (let i = 0; i < 3; i++) {
      const stolen = await authorize('spa', requestUri);
      expect(stolen.status).toBe(400);
      expect(stolen.headers.get('location')).toBeNull();
      const page = await stolen.text();
      expect(page).toContain('invalid_request_uri');
    }
    // Still usable by its own client: the sign-in completes and the code is redeemed.
    const back = await signIn(server.url, { client_id: 'confidential', request_uri: requestUri });
    expect(back.get('state')).toBe('st');
    const token = `${server.url}/token`;
    const key = await dpopKey();
    const res = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier }, { auth: basic('confidential', SECRET), dpop: await key.proof(token) });
    expect(res.status).toBe(200);
    // And it stays single-use for its owner (RFC 9126 §4).
    const again = await authorize('confidential', requestUri);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('invalid_request_uri');
  });

  it('a public client\'s request_uri sent with a confidential client_id is refused and stays usable by the public client', async () => {
    const { requestUri } = await push('spa');
    const stolen = await authorize('confidential', requestUri);
    expect(stolen.status).toBe(400);
    expect(await stolen.text()).toContain('invalid_request_uri');
    const page = await authorize('spa', requestUri);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('name="csrf"');
  });

  it('concurrency: the owner and another client race for one request_uri; only the owner can win', async () => {
    const { requestUri } = await push('spa');
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => authorize(i % 2 ? 'spa' : 'confidential', requestUri)));
    const ok = answers.map((r, i) => [i % 2 ? 'spa' : 'confidential', r.status] as const).filter(([, status]) => status === 200);
    expect(ok).toEqual([['spa', 200]]);
  });
});
