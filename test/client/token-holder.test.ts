/**
 * createTokenHolder: refresh ahead of expiry, single flight (rotating refresh tokens are
 * single-use, RFC 9700 §4.14.2), failure handling, clear — against the small real AS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createDPoPClient, createTokenHolder, discover, OAuthResponseError, refresh, type AuthorizationServerMetadata, type TokenResponse } from '../../src/client/index.js';
import { CLIENTS, startMiniAs } from './support/mini-as.js';

let server: Awaited<ReturnType<typeof startMiniAs>>;
let metadata: AuthorizationServerMetadata;
const auth = { clientId: 'conf', clientSecret: CLIENTS.conf!.secret! };
beforeAll(async () => {
  server = await startMiniAs({ expiresIn: 60 });
  metadata = await discover(server.issuer);
});
afterAll(async () => { await server.close(); });

describe('token holder', () => {
  it('RFC 9700 §4.14.2: 10 concurrent accessToken() calls during expiry → exactly one refresh, all get the new token', async () => {
    const client = createDPoPClient();
    const initial = await clientCredentials(client, metadata, auth);
    let clock = Date.now() / 1000;
    let refreshes = 0;
    const holder = createTokenHolder(client, {
      initial,
      clock: () => clock,
      refresh: async (refreshToken) => { refreshes++; return refresh(client, metadata, { ...auth, refreshToken }); },
    });
    expect(await holder.accessToken()).toBe(initial.access_token);
    expect(refreshes).toBe(0);
    clock += 61; // expired
    const tokens = await Promise.all(Array.from({ length: 10 }, () => holder.accessToken()));
    expect(refreshes).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(initial.access_token);
    // The rotated refresh token was stored: a later refresh works (the spent one would not).
    expect(holder.current()!.refresh_token).not.toBe(initial.refresh_token);
    clock += 120;
    const third = await holder.accessToken();
    expect(refreshes).toBe(2);
    expect(server.tokens.get(third)!.jkt).toBe(await client.thumbprint());
  });

  it('refreshes ahead: within refreshAheadSeconds of expiry, before the token fails', async () => {
    let clock = 1_000;
    let calls = 0;
    const holder = createTokenHolder(createDPoPClient(), {
      initial: { access_token: 'a1', token_type: 'DPoP', expires_in: 100, refresh_token: 'r1' },
      refreshAheadSeconds: 30,
      clock: () => clock,
      refresh: async (rt) => { calls++; expect(rt).toBe('r1'); return { access_token: 'a2', token_type: 'DPoP', expires_in: 100 }; },
    });
    clock = 1_069;
    expect(await holder.accessToken()).toBe('a1');
    clock = 1_071;
    expect(await holder.accessToken()).toBe('a2');
    expect(calls).toBe(1);
    expect(holder.current()!.refresh_token).toBe('r1'); // RFC 6749 §6: no new one → keep the old
    expect(holder.current()!.expires_at).toBe(1_171);
  });

  it('a failed refresh returns the still-valid token, and throws once it has expired; the next call retries', async () => {
    let clock = 0;
    let fail = true;
    let calls = 0;
    const holder = createTokenHolder(createDPoPClient(), {
      initial: { access_token: 'a1', token_type: 'DPoP', expires_at: 100, refresh_token: 'r1' },
      clock: () => clock,
      refresh: async () => {
        calls++;
        if (fail) throw new OAuthResponseError('temporarily_unavailable', { status: 503 });
        return { access_token: 'a2', token_type: 'DPoP', expires_in: 100 } as TokenResponse;
      },
    });
    clock = 80;
    expect(await holder.accessToken()).toBe('a1');
    clock = 100;
    await expect(holder.accessToken()).rejects.toMatchObject({ error: 'temporarily_unavailable' });
    fail = false;
    expect(await holder.accessToken()).toBe('a2');
    expect(calls).toBe(3);
  });

  it('no refresh token: the token is used until it expires, then token_expired', async () => {
    let clock = 0;
    const holder = createTokenHolder(createDPoPClient(), { initial: { access_token: 'a', token_type: 'DPoP', expires_in: 10 }, clock: () => clock, refresh: async () => { throw new Error('unused'); } });
    clock = 9;
    expect(await holder.accessToken()).toBe('a');
    clock = 10;
    await expect(holder.accessToken()).rejects.toMatchObject({ error: 'token_expired' });
  });

  it('clear() forgets the tokens; a refresh landing after clear() does not bring them back', async () => {
    let clock = 0;
    let release!: (t: TokenResponse) => void;
    const holder = createTokenHolder(createDPoPClient(), {
      initial: { access_token: 'a', token_type: 'DPoP', expires_in: 10, refresh_token: 'r' },
      clock: () => clock,
      refresh: () => new Promise<TokenResponse>((resolve) => { release = resolve; }),
    });
    clock = 20;
    const pending = holder.accessToken();
    await new Promise((r) => setTimeout(r, 5));
    holder.clear();
    release({ access_token: 'b', token_type: 'DPoP' });
    await expect(pending).rejects.toMatchObject({ error: 'no_token' });
    expect(holder.current()).toBeUndefined();
    await expect(holder.accessToken()).rejects.toBeInstanceOf(OAuthResponseError);
  });

  it('holder.fetch presents the current token with a proof (ath)', async () => {
    const { startResourceServer } = await import('./support/servers.js');
    const rs = await startResourceServer({ token: 'tok' });
    try {
      const holder = createTokenHolder(createDPoPClient(), { initial: { access_token: 'tok', token_type: 'DPoP' }, refresh: async () => { throw new Error('unused'); } });
      const res = await holder.fetch(`${rs.url}/me`);
      expect(res.status).toBe(200);
      expect(rs.seen[0]!.headers.authorization).toBe('DPoP tok');
    } finally {
      await rs.close();
    }
  });
});
