/** `dpopkit thumbprint FILE`: the RFC 7638 thumbprint (`jkt`) of a JWK file, private or public. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { publicMembers, type PublicJwk } from '../../core/crypto/backend.js';
import { jwkThumbprint } from '../../core/thumbprint.js';
import { keyWeakness } from '../../core/weak-keys.js';
import { printJson, usage } from '../output.js';

export function register(program: Command): void {
  program
    .command('thumbprint')
    .description('print the RFC 7638 SHA-256 thumbprint (jkt) of a JWK file')
    .argument('<file>', 'a JWK (private or public) as JSON')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      let jwk: PublicJwk;
      try {
        jwk = JSON.parse(await readFile(file, 'utf8')) as PublicJwk;
      } catch {
        throw usage(`${file} is not a readable JSON file`);
      }
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
