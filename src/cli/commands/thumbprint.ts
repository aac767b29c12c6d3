/** `dpopkit thumbprint FILE`: the RFC 7638 thumbprint (`jkt`) of a JWK file, private or public. */
import type { Command } from 'commander';
import { publicMembers, type PublicJwk } from '../../core/crypto/backend.js';
import { jwkThumbprint } from '../../core/thumbprint.js';
import { keyWeakness } from '../../core/weak-keys.js';
import { readAnyJwkFile } from '../key-file.js';
import { printJson, usage } from '../output.js';

export function register(program: Command): void {
  program
    .command('thumbprint')
    .description('print the RFC 7638 SHA-256 thumbprint (jkt) of a JWK file')
    .argument('<file>', 'a JWK (private or public) as JSON')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      // A private key file is held to the rule of every key file (owner-only mode).
      const jwk = (await readAnyJwkFile(file)) as PublicJwk;
      let jkt: string;
      let weakness: string | undefined;
      try {
        const members = publicMembers(jwk);
        weakness = keyWeakness(members);
        jkt = await jwkThumbprint(members);
      } catch (err) {
        throw usage(`${file}: ${(err as Error).message}`);
      }
      // A thumbprint names the key a token is bound to: binding one to a key that verifies
      // forged signatures (small-order point, RSA e = 1) binds it to anybody.
      if (weakness !== undefined) throw new Error(`${file}: refusing a weak key: ${weakness}`);
      if (opts.json) printJson({ jkt });
      else process.stdout.write(`${jkt}\n`);
    });
}
