/** `dpopkit proof`: print a DPoP proof for one request, signed with a key file. */
import type { Command } from 'commander';
import { createProof } from '../../core/proof/create.js';
import { readKeyFile } from '../key-file.js';
import { printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('proof')
    .description('create a DPoP proof (RFC 9449 §4.2) for a request')
    .requiredOption('--key <file>', 'private JWK file (from `dpopkit keygen`)')
    .requiredOption('--method <method>', 'HTTP method (htm)')
    .requiredOption('--url <url>', 'request URL (htu; query and fragment are dropped)')
    .option('--access-token <token>', 'access token the request carries (adds ath)')
    .option('--nonce <nonce>', 'server nonce (DPoP-Nonce)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { key: string; method: string; url: string; accessToken?: string; nonce?: string; json?: boolean }) => {
      const { keyPair, alg } = await readKeyFile(opts.key);
      const proof = await createProof(keyPair, {
        htm: opts.method,
        htu: opts.url,
        alg,
        ...(opts.accessToken !== undefined ? { accessToken: opts.accessToken } : {}),
        ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
      });
      if (opts.json) printJson({ proof });
      else process.stdout.write(`${proof}\n`);
    });
}
