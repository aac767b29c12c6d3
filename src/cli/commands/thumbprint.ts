/** `dpopkit thumbprint FILE`: the RFC 7638 thumbprint (`jkt`) of a JWK file, private or public. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { publicMembers, type PublicJwk } from '../../core/crypto/backend.js';
import { jwkThumbprint } from '../../core/thumbprint.js';
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
      try {
        jkt = await jwkThumbprint(publicMembers(jwk));
      } catch (err) {
        throw usage(`${file}: ${(err as Error).message}`);
      }
      if (opts.json) printJson({ jkt });
      else process.stdout.write(`${jkt}\n`);
    });
}
