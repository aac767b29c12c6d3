/**
 * `dpopkit login`, `request --profile` and `logout`, as real processes against `dpopkit serve` on
 * the shipped demo configuration (first-party client demo-cli; alice with a password, bob with a
 * password and a TOTP secret): the password and the one-time code piped on stdin, the profile and
 * the DPoP key kept with mode 0600, the demo API called with them (200), the token refreshed when
 * it expires, and revoked on logout; `--resource` (RFC 8707) recorded for the discovery walk.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBase32, totp } from '../../src/authorization-server/totp.js';
import { CLI, ROOT, freePorts, startServe, writeDemoConfig, type ServeProcess } from '../support/serve-process.js';

/** The demo configuration's bob. */
const BOB_SECRET = JSON.parse(readFileSync(join(ROOT, 'examples', 'demo.config.json'), 'utf8')).authorizationServer.users.find((u: { username: string }) => u.username === 'bob').totpSecret as string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the built CLI with `input` piped on stdin (not a terminal). */
function dpopkit(args: string[], input = '', env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('dpopkit login / request --profile / logout against dpopkit serve', () => {
  let dir: string;
  let serve: ServeProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpopkit-login-'));
    const ports = await freePorts();
    // Short access tokens, so the refresh in request --profile shows within the test.
    const config = writeDemoConfig(dir, ports, (c) => {
      c.authorizationServer.tokens.accessTokenTtl = 31;
    });
    serve = await startServe(config, ports, { DPOPKIT_DATA_DIR: join(dir, 'data') });
  }, 90_000);

  afterAll(async () => {
    await serve?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('alice: the password piped → signed in; the profile and key are 0600; dpopkit request --profile → the demo API answers 200', async () => {
    const profile = join(dir, 'alice', 'profile.json');
    const login = await dpopkit(['login', '--issuer', serve.issuer, '--client-id', 'demo-cli', '--username', 'alice', '--profile', profile], 'wonderland\n');
    expect(login.stderr).toContain('Password for alice: (read from stdin)');
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Signed in as alice at ${serve.issuer}, urn:dpopkit:acr:pwd.`);
    const saved = JSON.parse(readFileSync(profile, 'utf8'));
    expect(saved).toMatchObject({ version: 1, issuer: serve.issuer, clientId: 'demo-cli', username: 'alice', keyFile: join(dir, 'alice', 'profile.key.json') });
    expect(saved.tokens.token_type).toBe('DPoP');
    expect(saved.authSession).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(mode(profile)).toBe('600');
    expect(mode(saved.keyFile)).toBe('600');
    expect(mode(join(dir, 'alice'))).toBe('700');

    const request = await dpopkit(['request', serve.api, '--profile', profile]);
    expect(request.code, request.stderr).toBe(0);
    expect(JSON.parse(request.stdout)).toMatchObject({ subject: 'alice', clientId: 'demo-cli', scheme: 'DPoP' });
  });

  it('bob: password and one-time code piped → signed in with mfa; a wrong code is asked again', async () => {
    const profile = join(dir, 'bob.json');
    const code = totp(decodeBase32(BOB_SECRET), Date.now() / 1000);
    const wrong = code === '000000' ? '111111' : '000000';
    const login = await dpopkit(['login', '--issuer', serve.issuer, '--client-id', 'demo-cli', '--profile', profile], `bob\nbuilder\n${wrong}\n${code}\n`);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain('Username: ');
    expect(login.stderr).toContain('Wrong one-time code.');
    expect(login.stdout).toContain('Signed in as bob');
    expect(login.stdout).toContain('urn:dpopkit:acr:mfa');
    expect(mode(join(dir, 'bob.key.json'))).toBe('600');
    const request = await dpopkit(['request', serve.api, '--profile', profile]);
    expect(request.code, request.stderr).toBe(0);
    expect(JSON.parse(request.stdout)).toMatchObject({ subject: 'bob' });
  });

  it('--resource (RFC 8707): the token is for that API and the profile says so, so dpopkit request URL (the discovery walk) uses it without a browser; an unknown resource → exit 1 invalid_target, no profile', async () => {
    const resource = new URL(serve.api).origin;
    const env = { XDG_CONFIG_HOME: join(dir, 'xdg') };
    const profile = join(dir, 'xdg', 'dpopkit', 'profile.json');
    const login = await dpopkit(['login', '--issuer', serve.issuer, '--client-id', 'demo-cli', '--username', 'alice', '--profile', profile, '--resource', resource], 'wonderland\n', env);
    expect(login.code, login.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(profile, 'utf8'));
    expect(saved.resource).toBe(resource);
    expect(JSON.parse(Buffer.from(saved.tokens.access_token.split('.')[1], 'base64url').toString()).aud).toBe(resource);
    // The walk finds tokens for this issuer and resource in the default profile: no sign-in URL.
    const walked = await dpopkit(['request', serve.api, '--sign-in-timeout', '2'], '', env);
    expect(walked.code, walked.stderr).toBe(0);
    expect(walked.stderr).not.toContain('open this URL');
    expect(JSON.parse(walked.stdout)).toMatchObject({ subject: 'alice', clientId: 'demo-cli', scheme: 'DPoP' });

    const other = join(dir, 'unknown-resource.json');
    const refused = await dpopkit(['login', '--issuer', serve.issuer, '--client-id', 'demo-cli', '--username', 'alice', '--profile', other, '--resource', 'https://unknown.example'], 'wonderland\n');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('invalid_target');
    expect(() => statSync(other)).toThrow();
    const malformed = await dpopkit(['login', '--issuer', serve.issuer, '--client-id', 'demo-cli', '--username', 'alice', '--profile', other, '--resource', '/relative'], 'wonderland\n');
    expect(malformed.code).toBe(2);
  });

  it('a wrong password with nothing more on stdin → exit 1, and no profile is written', async () => {
    const profile = join(dir, 'nobody.json');
    const login = await dpopkit(['login', '--issuer', serve.issuer, '--client-id', 'demo-cli', '--username', 'alice', '--profile', profile], 'not-the-password\n');
    expect(login.code).toBe(1);
    expect(login.stderr).toContain('Wrong username or password.');
    expect(login.stderr).toMatch(/stdin ended before the answer/);
    expect(() => statSync(profile)).toThrow();
  });

  it('a client that is not first-party is refused (unauthorized_client)', async () => {
    const login = await dpopkit(['login', '--issuer', serve.issuer, '--client-id', 'demo-spa', '--username', 'alice', '--profile', join(dir, 'x.json')], 'wonderland\n');
    expect(login.code).toBe(1);
    expect(login.stderr).toContain('unauthorized_client');
  });

  it('request --profile refreshes an expired access token (same key) and writes the rotated refresh token back', async () => {
    const profile = join(dir, 'alice', 'profile.json');
    const before = JSON.parse(readFileSync(profile, 'utf8'));
    // Pretend the token is expiring: request refreshes it first.
    writeFileSync(profile, JSON.stringify({ ...before, tokens: { ...before.tokens, expires_at: Math.floor(Date.now() / 1000) } }), { mode: 0o600 });
    const request = await dpopkit(['request', serve.api, '--profile', profile]);
    expect(request.code, request.stderr).toBe(0);
    const after = JSON.parse(readFileSync(profile, 'utf8'));
    expect(after.tokens.access_token).not.toBe(before.tokens.access_token);
    expect(after.tokens.refresh_token).not.toBe(before.tokens.refresh_token);
    expect(mode(profile)).toBe('600');
  });

  it('a profile readable by others is refused', async () => {
    const profile = join(dir, 'bob.json');
    const { chmodSync } = await import('node:fs');
    chmodSync(profile, 0o644);
    const request = await dpopkit(['request', serve.api, '--profile', profile]);
    expect(request.code).toBe(2);
    expect(request.stderr).toContain('readable by other users');
    chmodSync(profile, 0o600);
  });

  it('logout revokes the refresh token (it no longer refreshes) and deletes the profile and the key', async () => {
    const profile = join(dir, 'alice', 'profile.json');
    const saved = JSON.parse(readFileSync(profile, 'utf8'));
    const logout = await dpopkit(['logout', '--profile', profile]);
    expect(logout.code, logout.stderr).toBe(0);
    expect(logout.stdout).toContain('Signed out');
    expect(() => statSync(profile)).toThrow();
    expect(() => statSync(saved.keyFile)).toThrow();
    const refreshed = await fetch(`${serve.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: saved.tokens.refresh_token, client_id: 'demo-cli' }),
    });
    expect(refreshed.status).toBe(400);
    expect(((await refreshed.json()) as { error: string }).error).toMatch(/invalid_grant|invalid_dpop_proof/);
    const again = await dpopkit(['request', serve.api, '--profile', profile]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('sign in first: dpopkit login');
  });

  it('dpopkit totp prints the current code of a secret, and the otpauth URI', async () => {
    const out = await dpopkit(['totp', BOB_SECRET]);
    expect(out.stdout.trim()).toMatch(/^[0-9]{6}$/);
    const uri = await dpopkit(['totp', BOB_SECRET, '--uri', 'bob', '--issuer', 'dpopkit demo']);
    expect(uri.stdout.trim()).toBe(`otpauth://totp/dpopkit%20demo:bob?secret=${BOB_SECRET}&issuer=dpopkit+demo&algorithm=SHA1&digits=6&period=30`);
  });
});
