/**
 * `dpopkit verify`: decode a proof and walk every RFC 9449 §4.3 check, printing each as pass or
 * fail (for `htu`, both URIs after normalisation; for `iat`, both clocks). Exit 1 on any failure.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { explainProof, type CheckResult } from '../../core/proof/explain.js';
import { printJson, usage } from '../output.js';

interface VerifyOptions { method: string; url: string; accessToken?: string; now?: string; jkt?: string; maxAge?: string; maxFuture?: string; json?: boolean }

function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw usage(`${flag} must be a number of seconds`);
  return n;
}

function line(c: CheckResult): string {
  const mark = c.status === 'pass' ? 'pass' : c.status === 'fail' ? 'FAIL' : 'skip';
  let text = `  ${mark}  ${c.check.padEnd(9)} ${c.rule}`;
  if (c.status === 'fail') text += `\n        ${c.reason}: ${c.message}`;
  if (c.check === 'htu' && c.detail) {
    text += `\n        expected ${String(c.detail.expectedNormalized ?? c.detail.expected)}\n        received ${String(c.detail.receivedNormalized ?? c.detail.received)}`;
  }
  return text;
}

export function register(program: Command): void {
  program
    .command('verify')
    .description('check a DPoP proof against a request and explain every RFC 9449 §4.3 check')
    .argument('<proof>', 'the proof (compact JWS), or - to read it from stdin')
    .requiredOption('--method <method>', 'the request method')
    .requiredOption('--url <url>', 'the request URL')
    .option('--access-token <token>', 'access token presented with the proof (checks ath)')
    .option('--jkt <thumbprint>', 'the key thumbprint the proof must have (cnf.jkt)')
    .option('--now <seconds>', 'server time in epoch seconds (default: now)')
    .option('--max-age <seconds>', 'how old a proof may be', '300')
    .option('--max-future <seconds>', 'how far ahead of the server clock iat may be', '5')
    .option('--json', 'machine-readable output')
    .action(async (proofArg: string, opts: VerifyOptions) => {
      const proof = (proofArg === '-' ? readFileSync(0, 'utf8') : proofArg).trim();
      const result = await explainProof(proof, {
        method: opts.method,
        url: opts.url,
        ...(opts.accessToken !== undefined ? { accessToken: opts.accessToken } : {}),
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
          ...result.checks.map(line),
          result.valid ? 'valid' : 'INVALID',
        ];
        process.stdout.write(`${out.join('\n')}\n`);
      }
      process.exitCode = result.valid ? 0 : 1;
    });
}
