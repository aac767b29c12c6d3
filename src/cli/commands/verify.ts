/**
 * `dpopkit verify`: decode a proof and walk every RFC 9449 §4.3 check, printing each as pass or
 * fail (for `htu`, both URIs after normalisation; for `iat`, both clocks; with `--nonce`, the
 * nonce expected and the one received). Exit 1 on any failure.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { NonceSource } from '../../core/nonce.js';
import { explainProof, type CheckResult } from '../../core/proof/explain.js';
import { parseHttpUrl, parseMethod } from '../http-args.js';
import { printJson, usage } from '../output.js';

interface VerifyOptions { method: string; url: string; accessToken?: string; nonce?: string; now?: string; jkt?: string; maxAge?: string; maxFuture?: string; json?: boolean }

/** `--nonce VALUE`: the one nonce the server handed out, required in the proof (RFC 9449 §4.3 (10)). */
function expectedNonce(value: string): NonceSource {
  return { current: () => value, check: (nonce) => (nonce === value ? { valid: true, expiresAt: Number.MAX_SAFE_INTEGER } : { valid: false }) };
}

function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw usage(`${flag} must be a number of seconds`);
  return n;
}

function line(c: CheckResult, expected: { nonce?: string }, claims: Record<string, unknown> | undefined): string {
  const mark = c.status === 'pass' ? 'pass' : c.status === 'fail' ? 'FAIL' : 'skip';
  let text = `  ${mark}  ${c.check.padEnd(9)} ${c.rule}`;
  if (c.status === 'fail') text += `\n        ${c.reason}: ${c.message}`;
  if (c.check === 'htu' && c.detail) {
    text += `\n        expected ${String(c.detail.expectedNormalized ?? c.detail.expected)}\n        received ${String(c.detail.receivedNormalized ?? c.detail.received)}`;
  }
  if (c.check === 'nonce' && c.status === 'fail') {
    text += `\n        expected ${expected.nonce}\n        received ${claims?.nonce === undefined ? '(no nonce claim)' : JSON.stringify(claims.nonce)}`;
  }
  return text;
}

export function register(program: Command): void {
  program
    .command('verify')
    .description('check a DPoP proof against a request and explain every RFC 9449 §4.3 check')
    .argument('<proof>', 'the proof (compact JWS), or - to read it from stdin')
    .requiredOption('--method <method>', 'the request method as received (case-sensitive: GET, POST, …)')
    .requiredOption('--url <url>', 'the absolute http(s) URL of the request as received')
    .option('--access-token <token>', 'access token presented with the proof (checks ath)')
    .option('--nonce <nonce>', 'the nonce the server handed out (DPoP-Nonce): the proof must carry exactly this one')
    .option('--jkt <thumbprint>', 'the key thumbprint the proof must have (cnf.jkt)')
    .option('--now <seconds>', 'server time in epoch seconds (default: now)')
    .option('--max-age <seconds>', 'how old a proof may be', '300')
    .option('--max-future <seconds>', 'how far ahead of the server clock iat may be', '5')
    .option('--json', 'machine-readable output')
    .action(async (proofArg: string, opts: VerifyOptions) => {
      const method = parseMethod(opts.method);
      parseHttpUrl(opts.url);
      if (opts.nonce === '') throw usage('--nonce needs the nonce value the server sent in DPoP-Nonce');
      const proof = (proofArg === '-' ? readFileSync(0, 'utf8') : proofArg).trim();
      const result = await explainProof(proof, {
        method,
        url: opts.url,
        ...(opts.accessToken !== undefined ? { accessToken: opts.accessToken } : {}),
        ...(opts.nonce !== undefined ? { nonce: expectedNonce(opts.nonce) } : {}),
        ...(opts.jkt !== undefined ? { jkt: opts.jkt } : {}),
        ...(opts.now !== undefined ? { now: seconds(opts.now, '--now') } : {}),
        maxAge: seconds(opts.maxAge, '--max-age')!,
        maxFuture: seconds(opts.maxFuture, '--max-future')!,
      });
      if (opts.json) printJson(result);
      else {
        const out = [
          `header: ${JSON.stringify(result.header ?? null)}`,
          `claims: ${JSON.stringify(result.claims ?? null)}`,
          ...(result.jkt ? [`jkt:    ${result.jkt}`] : []),
          'checks:',
          ...result.checks.map((c) => line(c, opts, result.claims)),
          result.valid ? 'valid' : 'INVALID',
        ];
        process.stdout.write(`${out.join('\n')}\n`);
      }
      process.exitCode = result.valid ? 0 : 1;
    });
}
