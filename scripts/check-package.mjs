// The package as it would be published: publint (package.json against the files) and
// arethetypeswrong (every export resolves to JavaScript and matching types under Node's ESM
// and bundler resolution; the package is ESM-only, so the CommonJS and node10 rows are
// ignored). Run by `npm test` after the build; exits non-zero on any problem.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'dpopkit-check-'));
const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' });
try {
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const tarball = join(dir, filename);
  run('npx', ['--no-install', 'publint', 'run', '--strict', '--pack', 'false', '.']);
  run('npx', ['--no-install', 'attw', tarball, '--profile', 'esm-only', '--quiet']);
} catch (err) {
  console.error(`package check failed: ${err.message}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
