/**
 * `dpopkit`: the command line. Each command lives in `commands/<name>.ts` and exports
 * `register(program)`; this file only wires them up (`main.ts` turns failures into one line).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import * as keygen from './commands/keygen.js';
import * as thumbprint from './commands/thumbprint.js';
import * as proof from './commands/proof.js';
import * as verify from './commands/verify.js';
import * as request from './commands/request.js';
import * as serve from './commands/serve.js';
import * as hashPassword from './commands/hash-password.js';
import * as login from './commands/login.js';
import * as logout from './commands/logout.js';
import * as totp from './commands/totp.js';

/** Every command module; add yours here. */
const COMMANDS: ReadonlyArray<{ register(program: Command): void }> = [keygen, thumbprint, proof, verify, request, serve, hashPassword, login, logout, totp];

/** The package's own version (`dpopkit --version`). */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** Parse `argv` and run the command it names. */
export async function run(argv: readonly string[]): Promise<void> {
  const program = new Command('dpopkit')
    .description('DPoP (RFC 9449) tools: keys, proofs, verification, requests and a demo server')
    .version(packageVersion(), '-V, --version', 'print the version of dpopkit')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });
  for (const command of COMMANDS) command.register(program);
  await program.parseAsync([...argv]);
}
