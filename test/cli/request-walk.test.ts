/**
 * `dpopkit request URL` with nothing else configured, as real processes: `dpopkit serve` on the
 * shipped demo configuration (its API publishes RFC 9728 metadata pointing at its
 * authorization server, which has registration open in the demo configuration only), and the
 * CLI walking from the bare API URL: discovery, registration (kept per issuer in the profile),
 * the browser sign-in (driven here with fetch: the printed URL, the sign-in form as
 * alice/wonderland, the redirect to the CLI's loopback listener), and the call with DPoP. A
 * second run uses the profile's tokens without a browser.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, freePorts, startServe, writeDemoConfig, type ServePorts, type ServeProcess } from '../support/serve-process.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `dpopkit request …`; when it prints a sign-in URL, hand it to `browse`. */
function request(args: string[], env: Record<string, string>, browse?: (url: string) => Promise<void>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'request', ...args], { cwd: ROOT, env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let browsing: Promise<void> | undefined;
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const url = /open this URL in a browser:\n\n {2}(\S+)\n/.exec(stderr)?.[1];
      if (url && !browsing) {
        if (!browse) {
          child.kill();
          reject(new Error(`a sign-in was asked for: ${url}`));
          return;
        }
        browsing = browse(url).catch((err: unknown) => {
          child.kill();
          reject(err);
        });
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => void Promise.resolve(browsing).then(() => resolve({ code, stdout, stderr })));
  });
}

/** What a person does in the browser: open the URL, sign in as alice, follow the redirect. */
async function signInAsAlice(url: string, seen: { location?: string }): Promise<void> {
  const page = await fetch(url, { redirect: 'manual' });
  expect(page.status, await page.clone().text()).toBe(200);
  const html = await page.text();
  expect(html).toContain('dpopkit CLI');
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const action = /action="([^"]+)"/.exec(html)![1]!.replace(/&#38;|&amp;/g, '&');
  const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
  const login = await fetch(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({ csrf, username: 'alice', password: 'wonderland', action: 'login' }),
    redirect: 'manual',
  });
  expect(login.status).toBe(303);
  const location = login.headers.get('location')!;
  seen.location = location;
  // The browser follows the redirect to the CLI's loopback listener.
  const back = await fetch(location);
  expect(back.status).toBe(200);
  expect(await back.text()).toContain('Signed in');
}

describe('dpopkit request from a bare API URL (RFC 9728 → RFC 7591 → code flow → DPoP)', () => {
  let dir: string;
  let ports: ServePorts;
  let serve: ServeProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpopkit-walk-'));
    ports = await freePorts();
    serve = await startServe(writeDemoConfig(dir, ports), ports, { DPOPKIT_DATA_DIR: join(dir, 'data') });
    // The CLI's profile lives under $XDG_CONFIG_HOME/dpopkit.
    env = { XDG_CONFIG_HOME: join(dir, 'config') };
  }, 90_000);
  afterAll(async () => {
    await serve?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('discovers, registers, signs in through the browser, and calls the API with DPoP; the second run needs no browser', async () => {
    const seen: { location?: string } = {};
    const first = await request([serve.api, '--verbose'], env, (url) => signInAsAlice(url, seen));
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ subject: 'alice', scheme: 'DPoP', scopes: ['api:read'] });
    const resource = `http://localhost:${ports.api}`;
    expect(first.stderr).toContain(`* resource ${resource} (metadata ${resource}/.well-known/oauth-protected-resource); authorization server ${serve.issuer}`);
    expect(first.stderr).toMatch(/\* registered client dpk_\S+ at http:\/\/localhost:\d+ \(RFC 7591\)/);
    // The sign-in came back to a loopback listener on a port of its own (RFC 8252 §7.3).
    expect(seen.location).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?code=/);
    expect(new URL(seen.location!).searchParams.get('iss')).toBe(serve.issuer);

    // The profile: mode 0600, the registration kept per issuer, the tokens for this resource.
    const profilePath = join(dir, 'config', 'dpopkit', 'profile.json');
    expect(statSync(profilePath).mode & 0o777).toBe(0o600);
    const profile = JSON.parse(readFileSync(profilePath, 'utf8'));
    expect(profile).toMatchObject({ version: 1, issuer: serve.issuer, resource, registrations: { [serve.issuer]: { redirectUri: 'http://127.0.0.1/callback' } } });
    expect(profile.clientId).toBe(profile.registrations[serve.issuer].clientId);
    expect(statSync(profile.keyFile).mode & 0o777).toBe(0o600);
    const payload = JSON.parse(Buffer.from(profile.tokens.access_token.split('.')[1], 'base64url').toString());
    expect(payload.aud).toBe(resource);
    expect(payload.cnf.jkt).toBeTruthy();

    // Again: the profile's token, no browser (request() fails if a sign-in URL is printed).
    const second = await request([serve.api], env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ subject: 'alice', scheme: 'DPoP' });
  }, 120_000);

  it('another profile registers its own client at that issuer; an answer that names no resource metadata is printed as it is (no walk)', async () => {
    const other = { XDG_CONFIG_HOME: join(dir, 'other') };
    const run = await request([serve.api], other, (url) => signInAsAlice(url, {}));
    expect(run.code, run.stderr).toBe(0);
    const profile = JSON.parse(readFileSync(join(dir, 'other', 'dpopkit', 'profile.json'), 'utf8'));
    expect(Object.keys(profile.registrations)).toEqual([serve.issuer]);
    // An answer that names no resource metadata (here a 405 of the authorization server): exit 22, no walk.
    const plain = await request([`${serve.issuer}/jwks`, '-X', 'POST'], other);
    expect(plain.code).toBe(22);
    expect(plain.stderr).not.toContain('open this URL');
  }, 120_000);
});
