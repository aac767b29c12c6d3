import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPGliteStorage } from '../../src/stores/postgres.js';

describe('PGlite storage', () => {
  it('close() waits for queued work, then refuses new work', async () => {
    const storage = createPGliteStorage();
    await storage.migrate();
    const pending = storage.revokeAccessToken('j', 2_000_000_000);
    const closing = storage.close();
    await expect(pending).resolves.toBeUndefined();
    await closing;
    await expect(storage.getClient('x')).rejects.toThrow(/closed/);
  });

  it('a data directory that cannot be opened rejects calls with an error; close() still resolves', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dpopkit-pglite-bad-'));
    const file = join(dir, 'not-a-directory');
    await writeFile(file, 'x');
    const storage = createPGliteStorage({ dataDir: file });
    await expect(storage.migrate()).rejects.toThrow();
    await expect(storage.getClient('x')).rejects.toThrow();
    await expect(storage.close()).resolves.toBeUndefined();
    await rm(dir, { recursive: true, force: true });
  });

  it('a data directory is open in one place only: a second storage on it is refused (no silent lost writes); after close it opens', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dpopkit-pglite-lock-'));
    const first = createPGliteStorage({ dataDir: dir });
    await first.migrate();
    await first.revokeAccessToken('jti-first', 2_000_000_000);
    const second = createPGliteStorage({ dataDir: dir });
    await expect(second.migrate()).rejects.toMatchObject({ name: 'DataDirInUseError', code: 'EDATADIRINUSE', pid: process.pid });
    await second.close();
    await first.close();
    const third = createPGliteStorage({ dataDir: dir });
    await third.migrate();
    expect(await third.isAccessTokenRevoked('jti-first', 1_700_000_000)).toBe(true);
    await third.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a lock held by another live process is respected', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dpopkit-pglite-other-'));
    await writeFile(join(dir, 'dpopkit.lock'), String(process.ppid)); // a live process, not us
    const storage = createPGliteStorage({ dataDir: dir });
    await expect(storage.getClient('x')).rejects.toMatchObject({ code: 'EDATADIRINUSE', pid: process.ppid });
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a lock left by a process that is gone is taken over', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dpopkit-pglite-stale-'));
    await writeFile(join(dir, 'dpopkit.lock'), '2147483646'); // no such process
    const storage = createPGliteStorage({ dataDir: dir });
    await storage.migrate();
    expect(await storage.getClient('nobody')).toBeUndefined();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });
});
