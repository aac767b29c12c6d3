/**
 * How the CLI reports: JSON for scripts (`--json`), plain lines for people, and every failure
 * as one line on stderr with a non-zero exit, never a stack trace.
 *
 * @module
 */
import { DPoPError } from '../core/errors.js';

/** Print a failure as one line and exit 1 (2 for usage errors). */
export function fail(err: unknown): never {
  if (err instanceof DPoPError) {
    process.stderr.write(`dpopkit: ${err.error} (${err.reason}): ${err.message}\n`);
  } else if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' ? /Cannot find package '([^']+)'/.exec(err.message)?.[1] : undefined;
    if (missing !== undefined) {
      // An optional peer dependency of the library that this command needs (package.json
      // peerDependenciesMeta): say which, and how to get it.
      process.stderr.write(`dpopkit: this command needs the package "${missing}", which is not installed: npm install ${missing}\n`);
      process.exit(1);
    }
    process.stderr.write(`dpopkit: ${err.message}\n`);
    process.exit(code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_USAGE' ? 2 : 1);
  } else {
    process.stderr.write(`dpopkit: ${String(err)}\n`);
  }
  process.exit(1);
}

/** A usage error (bad flag value): exit 2. */
export function usage(message: string): Error {
  const err = new Error(message) as Error & { code: string };
  err.code = 'ERR_USAGE';
  return err;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
