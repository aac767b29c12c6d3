/**
 * The server-side packages (node-postgres, PGlite, ioredis, …) are optional peer dependencies:
 * the library that client and API teams install has none, and only the code that needs one
 * loads it, on first use. When it is missing, say which package to install instead of Node's
 * bare "Cannot find package".
 *
 * @module
 */

/** Thrown when an optional peer dependency a feature needs is not installed. */
export class MissingPeerError extends Error {
  override name = 'MissingPeerError';
  readonly code = 'ERR_DPOPKIT_MISSING_PEER';
  constructor(
    readonly packageName: string,
    feature: string,
    options?: { cause?: unknown },
  ) {
    super(`${feature} needs the package "${packageName}", which is not installed: npm install ${packageName}`, options);
  }
}

/** Whether `err` is Node's "this very package cannot be found" (not a missing file inside it). */
function isMissing(err: unknown, packageName: string): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && typeof message === 'string' && message.includes(`'${packageName}'`);
}

/** `import(packageName)`, or {@link MissingPeerError} naming the package and the feature. */
export async function importPeer<T>(packageName: string, feature: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (isMissing(err, packageName)) throw new MissingPeerError(packageName, feature, { cause: err });
    throw err;
  }
}
