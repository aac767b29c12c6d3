#!/usr/bin/env node
/**
 * `dpopkit`: the command line. Each command lives in `commands/<name>.ts` and exports
 * `register(program)`; this file only wires them up and turns failures into one clear line.
 *
 * @module
 */
import { Command } from 'commander';
import { fail } from './output.js';
import * as keygen from './commands/keygen.js';
import * as thumbprint from './commands/thumbprint.js';
import * as proof from './commands/proof.js';
import * as verify from './commands/verify.js';
import * as request from './commands/request.js';
import * as serve from './commands/serve.js';
import * as hashPassword from './commands/hash-password.js';

/** Every command module; add yours here. */
const COMMANDS: ReadonlyArray<{ register(program: Command): void }> = [keygen, thumbprint, proof, verify, request, serve, hashPassword];

const program = new Command('dpopkit')
  .description('DPoP (RFC 9449) tools: keys, proofs, verification, requests and a demo server')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });
for (const command of COMMANDS) command.register(program);

program.parseAsync(process.argv).catch(fail);
