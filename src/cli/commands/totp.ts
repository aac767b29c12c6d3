/**
 * `dpopkit totp`: print the current one-time code (RFC 6238: SHA-1, 6 digits, 30 s) of a base32
 * secret, as an authenticator app would show it; or, with `--uri`, the `otpauth://` URI to put
 * the secret into one. For the demo user and for scripts; a real user keeps the secret in an app.
 *
 * @module
 */
import type { Command } from 'commander';
import { decodeBase32, otpauthUri, totp } from '../../authorization-server/totp.js';
import { usage } from '../output.js';

interface TotpOptions {
  uri?: string;
  issuer: string;
}

export function register(program: Command): void {
  program
    .command('totp')
    .description('print the current one-time code (RFC 6238 TOTP) of a base32 secret, or its otpauth:// URI')
    .argument('<secret>', 'the base32 secret (as in a user\'s totpSecret)')
    .option('--uri <account>', 'print the otpauth:// URI for this account name instead of the code')
    .option('--issuer <name>', 'the issuer name in the URI', 'dpopkit')
    .action((secret: string, opts: TotpOptions) => {
      let key: Buffer;
      try {
        key = decodeBase32(secret);
      } catch {
        throw usage('the secret must be base32 (A–Z and 2–7, RFC 4648)');
      }
      if (key.length < 10) throw usage('the secret is too short to be a TOTP secret');
      process.stdout.write(`${opts.uri !== undefined ? otpauthUri(secret, opts.uri, opts.issuer) : totp(key, Date.now() / 1000)}\n`);
    });
}
