/** `dpopkit keygen`: a new key pair; the private JWK goes to a 0600 file, the public JWK and thumbprint to stdout. */
import type { Command } from 'commander';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { DEFAULT_ALGORITHMS, isSupportedAlgorithm } from '../../core/crypto/algorithms.js';
import { exportPublicJwk, generateKeyPair } from '../../core/keys.js';
import { jwkThumbprint } from '../../core/thumbprint.js';
import { writeKeyFile } from '../key-file.js';
import { printJson, usage } from '../output.js';

/** Every algorithm a key can be made for (RFC 9449 §4.2: asymmetric only). */
const ALGS = DEFAULT_ALGORITHMS.join(', ');

export function register(program: Command): void {
  program
    .command('keygen')
    .description('generate a DPoP key pair: private JWK to a file (mode 0600), public JWK and RFC 7638 thumbprint printed')
    .option('--alg <alg>', `signature algorithm: ${ALGS}`, 'ES256')
    .option('--out <file>', 'where to write the private JWK', 'dpopkit-key.json')
    .option('--force', 'overwrite an existing file')
    .option('--json', 'machine-readable output')
    .action(async (opts: { alg: string; out: string; force?: boolean; json?: boolean }) => {
      if (!isSupportedAlgorithm(opts.alg)) throw usage(`--alg ${opts.alg} is not supported; use one of ${ALGS}`);
      const keyPair = await generateKeyPair(opts.alg, { extractable: true });
      const privateJwk = (keyPair.privateKey as KeyObject).export({ format: 'jwk' }) as JsonWebKey;
      await writeKeyFile(opts.out, { ...privateJwk, alg: opts.alg }, Boolean(opts.force));
      const publicJwk = await exportPublicJwk(keyPair);
      const jkt = await jwkThumbprint(publicJwk);
      if (opts.json) printJson({ file: opts.out, alg: opts.alg, jwk: publicJwk, jkt });
      else process.stdout.write(`private key written to ${opts.out} (mode 0600)\nalg: ${opts.alg}\npublic jwk: ${JSON.stringify(publicJwk)}\njkt: ${jkt}\n`);
    });
}
