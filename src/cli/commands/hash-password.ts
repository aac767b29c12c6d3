/**
 * `dpopkit hash-password`: make the scrypt hash a configuration file stores for a user.
 * The password is read from standard input so it never lands in shell history.
 *
 * @module
 */
import type { Command } from 'commander';
import { hashPassword } from '../../authorization-server/passwords.js';
import { usage } from '../output.js';

export function register(program: Command): void {
  program
    .command('hash-password')
    .description('read a password on standard input and print its scrypt hash for the "users" of a configuration')
    .action(async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      if (!password) throw usage('no password on standard input (try: echo -n secret | dpopkit hash-password)');
      process.stdout.write(`${await hashPassword(password)}\n`);
    });
}
