/** The CLI's first commands, run as a user would (the built bin), asserting output and exit codes. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
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
});
