/** The CLI's first commands, run as a user would (the built bin), asserting output and exit codes. */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import rfc9449 from '../vectors/rfc9449.json' with { type: 'json' };

const run = promisify(execFile);
const BIN = join(process.cwd(), 'dist/cli/main.js');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('dpopkit keygen / thumbprint / proof / verify', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpopkit-cli-'));
    // `npm test` builds first; build here only when this file runs alone on a fresh checkout.
    if (!existsSync(BIN)) await run('npx', ['tsc', '-p', 'tsconfig.build.json']);
  }, 120_000);

  it('keygen writes a 0600 private JWK and prints the public JWK and thumbprint', async () => {
    const file = join(dir, 'key.json');
    const out = await cli('keygen', '--alg', 'ES256', '--out', file, '--json');
    expect(out.code).toBe(0);
    const printed = JSON.parse(out.stdout) as { jwk: Record<string, string>; jkt: string };
    expect(printed.jwk).not.toHaveProperty('d');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await cli('thumbprint', file)).stdout.trim()).toBe(printed.jkt);
    expect((await cli('keygen', '--out', file)).code).toBe(2); // refuses to overwrite
  });

  it('thumbprint of the RFC 9449 example key is the RFC value', async () => {
    const file = join(dir, 'rfc.json');
    writeFileSync(file, JSON.stringify(rfc9449.exampleJwk.jwk));
    expect((await cli('thumbprint', file)).stdout.trim()).toBe(rfc9449.exampleJwk.jkt);
  });

  it('proof → verify passes every check; verify --json lists them', async () => {
    const file = join(dir, 'k2.json');
    await cli('keygen', '--alg', 'EdDSA', '--out', file);
    const proof = (await cli('proof', '--key', file, '--method', 'POST', '--url', 'https://as.example.com/token?x=1', '--access-token', 'tok', '--nonce', 'n1')).stdout.trim();
    const out = await cli('verify', proof, '--method', 'POST', '--url', 'https://AS.example.com:443/token', '--access-token', 'tok', '--json');
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as { valid: boolean; claims: Record<string, unknown>; checks: Array<{ check: string; status: string }> };
    expect(result.valid).toBe(true);
    expect(result.claims).toMatchObject({ htm: 'POST', htu: 'https://as.example.com/token', nonce: 'n1' });
    expect(result.checks.map((c) => c.check)).toEqual(['structure', 'typ', 'alg', 'jwk', 'claims', 'signature', 'htm', 'htu', 'iat', 'ath']);
  });

  it('verify explains failures: htu with both normalised URIs, iat with both clocks; exit 1', async () => {
    const v = rfc9449.tokenRequestProof;
    const out = await cli('verify', v.proof, '--method', 'POST', '--url', 'https://server.example.com/other');
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/FAIL\s+htu/);
    expect(out.stdout).toContain('expected https://server.example.com/other');
    expect(out.stdout).toContain('received https://server.example.com/token');
    expect(out.stdout).toMatch(/FAIL\s+iat/);
    expect(out.stdout).toContain(String(v.iat));
    const ok = await cli('verify', v.proof, '--method', 'POST', '--url', v.url, '--now', String(v.iat), '--jkt', rfc9449.exampleJwk.jkt);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/valid$/m);
  });

  it('errors are one line, never a stack trace', async () => {
    const missing = await cli('proof', '--key', join(dir, 'nope.json'), '--method', 'GET', '--url', 'https://x/');
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('does not exist');
    const junk = await cli('verify', 'not-a-proof', '--method', 'GET', '--url', 'https://x/');
    expect(junk.code).toBe(1);
    expect(junk.stdout).toContain('malformed');
    expect(junk.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('--version and -V print the package version', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const out = await cli(flag);
      expect([out.code, out.stdout, out.stderr]).toEqual([0, `${version}\n`, '']);
    }
  });

  it('keygen --alg lists the allowed algorithms, in --help and in the error (exit 2)', async () => {
    const list = 'ES256, ES384, ES512, EdDSA, Ed25519, RS256, RS384, RS512, PS256, PS384, PS512';
    const help = await cli('keygen', '--help');
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(`signature algorithm: ${list}`);
    const out = await cli('keygen', '--alg', 'HS256', '--out', join(dir, 'never.json'));
    expect([out.code, out.stdout, out.stderr]).toEqual([2, '', `dpopkit: --alg HS256 is not supported; use one of ${list}\n`]);
    expect(existsSync(join(dir, 'never.json'))).toBe(false);
  });

  it('proof refuses a request that could never verify: relative or non-http URL, lowercase or malformed method (exit 2, no proof)', async () => {
    const key = join(dir, 'usage-key.json');
    await cli('keygen', '--out', key);
    const cases: Array<[string[], string]> = [
      [['--method', 'GET', '--url', 'notaurl'], 'dpopkit: --url "notaurl" is not an absolute http:// or https:// URL (htu is the full URL the server sees, e.g. https://api.example.com/notes)\n'],
      [['--method', 'GET', '--url', '/api/x'], 'dpopkit: --url "/api/x" is not an absolute http:// or https:// URL (htu is the full URL the server sees, e.g. https://api.example.com/notes)\n'],
      [['--method', 'GET', '--url', 'ftp://example.com/x'], 'dpopkit: --url "ftp://example.com/x" is not an absolute http:// or https:// URL (htu is the full URL the server sees, e.g. https://api.example.com/notes)\n'],
      [['--method', 'get', '--url', 'https://api.example.com/x'], 'dpopkit: --method get: methods are case-sensitive (RFC 9110 §9.1) and servers compare htm exactly; did you mean GET?\n'],
      [['--method', 'GE T', '--url', 'https://api.example.com/x'], 'dpopkit: --method "GE T" is not an HTTP method: a method is a token (RFC 9110 §9.1), e.g. GET, POST, PUT, DELETE\n'],
    ];
    for (const [args, stderr] of cases) {
      const out = await cli('proof', '--key', key, ...args);
      expect([out.code, out.stdout, out.stderr], args.join(' ')).toEqual([2, '', stderr]);
    }
    // verify takes the same rule for the request it checks against.
    const verify = await cli('verify', 'x.y.z', '--method', 'post', '--url', 'https://api.example.com/x');
    expect([verify.code, verify.stderr]).toEqual([2, 'dpopkit: --method post: methods are case-sensitive (RFC 9110 §9.1) and servers compare htm exactly; did you mean POST?\n']);
    // A custom method in upper case is a method like any other.
    const custom = await cli('proof', '--key', key, '--method', 'PROPFIND', '--url', 'https://dav.example.com/x', '--json');
    expect(custom.code).toBe(0);
  });

  it('one key-file rule for every command: a 0644 or broken key file is named, with what is wrong and the fix (exit 2)', async () => {
    const key = join(dir, 'shared-key.json');
    await cli('keygen', '--out', key);
    chmodSync(key, 0o644);
    const mode = `dpopkit: key file ${key}: mode 0644 lets other users read the private key; run: chmod 600 ${key}\n`;
    const proof = await cli('proof', '--key', key, '--method', 'GET', '--url', 'https://api.example.com/x');
    const thumb = await cli('thumbprint', key);
    // request refuses it before any network: this URL would not even answer.
    const request = await cli('request', 'http://127.0.0.1:9/x', '--key', key);
    for (const out of [proof, thumb, request]) expect([out.code, out.stdout, out.stderr]).toEqual([2, '', mode]);
    chmodSync(key, 0o600);
    expect((await cli('proof', '--key', key, '--method', 'GET', '--url', 'https://api.example.com/x')).code).toBe(0);
    expect((await cli('thumbprint', key)).code).toBe(0);

    const broken = join(dir, 'broken-key.json');
    writeFileSync(broken, '{"kty": "EC",', { mode: 0o600 });
    for (const out of [await cli('proof', '--key', broken, '--method', 'GET', '--url', 'https://x.example/'), await cli('request', 'http://127.0.0.1:9/x', '--key', broken)]) {
      expect(out.code).toBe(2);
      expect(out.stderr).toMatch(new RegExp(`^dpopkit: key file ${broken}: is not JSON \\(.+\\); give a private JWK as written by dpopkit keygen\n$`));
    }
    const publicOnly = join(dir, 'public.json');
    writeFileSync(publicOnly, JSON.stringify((JSON.parse((await cli('keygen', '--out', join(dir, 'pub-src.json'), '--json')).stdout) as { jwk: object }).jwk), { mode: 0o600 });
    const noD = await cli('proof', '--key', publicOnly, '--method', 'GET', '--url', 'https://x.example/');
    expect([noD.code, noD.stderr]).toEqual([2, `dpopkit: key file ${publicOnly}: holds no private key (no "d" member); give a private JWK as written by dpopkit keygen, not the public one\n`]);
    const missing = await cli('proof', '--key', join(dir, 'nope.json'), '--method', 'GET', '--url', 'https://x.example/');
    expect([missing.code, missing.stderr]).toEqual([2, `dpopkit: key file ${join(dir, 'nope.json')}: does not exist; make one with: dpopkit keygen --out ${join(dir, 'nope.json')}\n`]);
  });

  it('verify --nonce: the proof must carry exactly the nonce the server handed out (RFC 9449 §4.3 (10))', async () => {
    const key = join(dir, 'nonce-key.json');
    await cli('keygen', '--out', key);
    const url = 'https://api.example.com/notes';
    const withNonce = (await cli('proof', '--key', key, '--method', 'GET', '--url', url, '--nonce', 'n-1')).stdout.trim();
    const ok = await cli('verify', withNonce, '--method', 'GET', '--url', url, '--nonce', 'n-1', '--json');
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { checks: Array<{ check: string; status: string }> }).checks).toContainEqual({ check: 'nonce', rule: 'RFC 9449 §4.3 (10)', status: 'pass' });
    const stale = await cli('verify', withNonce, '--method', 'GET', '--url', url, '--nonce', 'n-2');
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain('  FAIL  nonce     RFC 9449 §4.3 (10)\n        nonce_invalid: the DPoP proof nonce is stale or unknown\n        expected n-2\n        received "n-1"\n');
    const without = (await cli('proof', '--key', key, '--method', 'GET', '--url', url)).stdout.trim();
    const missing = await cli('verify', without, '--method', 'GET', '--url', url, '--nonce', 'n-1');
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('nonce_missing: the server requires a nonce in the DPoP proof\n        expected n-1\n        received (no nonce claim)\n');
  });
});
