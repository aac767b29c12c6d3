/**
 * `dpopkit logout`: revoke the profile's tokens at the authorization server (RFC 7009: the
 * refresh token, which takes its whole family and the grant's access tokens with it, §2.1; then
 * the access token), and delete the profile and its DPoP key file.
 *
 * The files are deleted even when the server cannot be reached (the user asked to be signed out
 * of this machine); the exit status is then 1 and the message says the tokens may still be live
 * until they expire.
 *
 * @module
 */
import type { Command } from 'commander';
import { applyClientAuth } from '../../client/oauth/token-request.js';
import { forgetProfile, loadProfile, resolvePath } from '../profile.js';

interface LogoutOptions {
  profile?: string;
  clientSecret?: string;
}

/** RFC 7009 §2.1: POST token (+ hint) with the client's authentication; 200 whatever the token was. */
async function revoke(endpoint: string, token: string, hint: string, clientId: string, clientSecret: string | undefined): Promise<void> {
  const body = new URLSearchParams({ token, token_type_hint: hint });
  const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded' });
  applyClientAuth({ clientId, ...(clientSecret !== undefined ? { clientSecret } : {}) }, headers, body);
  const response = await fetch(endpoint, { method: 'POST', headers, body: body.toString() });
  await response.body?.cancel().catch(() => undefined);
  if (response.status !== 200) throw new Error(`the revocation endpoint answered HTTP ${response.status}`);
}

export function register(program: Command): void {
  program
    .command('logout')
    .description('revoke the tokens of a profile made by dpopkit login, and delete the profile and its DPoP key')
    .option('--profile <file>', 'the profile (default: the one dpopkit login writes)')
    .option('--client-secret <secret>', 'for a confidential first-party client')
    .action(async (opts: LogoutOptions) => {
      const path = resolvePath(opts.profile);
      const data = await loadProfile(path);
      const endpoint = data.metadata.revocation_endpoint;
      let failure: string | undefined;
      if (typeof endpoint !== 'string') failure = 'the server has no revocation endpoint';
      else {
        try {
          if (typeof data.tokens.refresh_token === 'string') await revoke(endpoint, data.tokens.refresh_token, 'refresh_token', data.clientId, opts.clientSecret);
          await revoke(endpoint, data.tokens.access_token, 'access_token', data.clientId, opts.clientSecret);
        } catch (err) {
          const cause = (err as { cause?: { code?: string } }).cause?.code;
          failure = cause ? `cannot reach ${endpoint}: ${cause}` : (err as Error).message;
        }
      }
      const removed = await forgetProfile(path, data);
      if (failure !== undefined) {
        process.stderr.write(`dpopkit: the tokens were not revoked (${failure}); they stay valid until they expire. Deleted: ${removed.join(', ')}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`Signed out: the tokens are revoked; deleted ${removed.join(' and ')}.\n`);
    });
}
