/** `dpopkit proof`: print a DPoP proof for one request, signed with a key file. */
import type { Command } from 'commander';
import { createProof } from '../../core/proof/create.js';
import { parseHttpUrl, parseMethod } from '../http-args.js';
import { readKeyFile } from '../key-file.js';
import { printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('proof')
    .description('create a DPoP proof (RFC 9449 §4.2) for a request')
    .requiredOption('--key <file>', 'private JWK file (from `dpopkit keygen`)')
    .requiredOption('--method <method>', 'HTTP method (htm), as sent: GET, POST, … (case-sensitive)')
    .requiredOption('--url <url>', 'absolute http(s) request URL (htu; query and fragment are dropped)')
    .option('--access-token <token>', 'access token the request carries (adds ath)')
    .option('--nonce <nonce>', 'server nonce (DPoP-Nonce)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { key: string; method: string; url: string; accessToken?: string; nonce?: string; json?: boolean }) => {
      // The request first (a usage error), then the key file: nothing is signed for a proof that could never verify.
      const htm = parseMethod(opts.method);
      parseHttpUrl(opts.url);
      const { keyPair, alg } = await readKeyFile(opts.key);
      const proof = await createProof(keyPair, {
        htm,
        htu: opts.url,
        alg,
        ...(opts.accessToken !== undefined ? { accessToken: opts.accessToken } : {}),
        ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
      });
      if (opts.json) printJson({ proof });
      else process.stdout.write(`${proof}\n`);
    });
}
