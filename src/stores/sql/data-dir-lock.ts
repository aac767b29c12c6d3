/**
 * One process per PGlite data directory. PGlite keeps the database in memory and writes it back
 * to the directory; two processes (or two storages in one process) opening the same directory
 * each see their own copy, and whichever closes last silently overwrites the other's writes.
 * A lock file (`dpopkit.lock`, holding the owner's pid) next to the data refuses the second
 * opener with a clear error; a lock left by a process that no longer exists is taken over.
 *
 * @module
 */
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Thrown when the data directory is already open elsewhere. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  readonly code = 'EDATADIRINUSE';
  constructor(readonly dataDir: string, readonly pid: number) {
    super(
      `PGlite data directory ${dataDir} is in use by process ${pid}${pid === process.pid ? ' (this process: another storage has it open)' : ''}; ` +
        `a PGlite directory can be open in one place only (delete ${join(dataDir, LOCK_FILE)} if that process is gone)`,
    );
  }
}

export const LOCK_FILE = 'dpopkit.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Take the lock (creating the directory if needed); resolves to its release function. */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      return () => unlink(path).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && (pid === process.pid || alive(pid))) throw new DataDirInUseError(dataDir, pid);
    await unlink(path).catch(() => {}); // stale: its process is gone
  }
  throw new Error(`could not lock PGlite data directory ${dataDir}`);
}
