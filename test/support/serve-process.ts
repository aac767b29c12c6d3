/**
 * Run `dpopkit serve` (the built CLI) in a child process on a copy of the shipped demo
 * configuration with its three ports moved to free ones and its PGlite data in `dataDir`, so a
 * test never clashes with a developer's `npm start`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { demoConfigOn, freePort } from '../../scripts/demo-config.mjs';

export { freePort };

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

export interface ServePorts {
  as: number;
  api: number;
  demo: number;
  admin?: number;
}

export async function freePorts(): Promise<ServePorts> {
  return { as: await freePort(), api: await freePort(), demo: await freePort() };
}

/** Write the shipped demo config with its ports moved (and `edit` applied); returns its path. */
export function writeDemoConfig(dir: string, ports: ServePorts, edit: (config: any) => void = () => {}): string {
  const config = demoConfigOn(ports);
  // The admin listener: the port asked for, else one the kernel picks (never the shipped 4009).
  if (config.admin) config.admin.port = ports.admin ?? 0;
  edit(config);
  const file = join(dir, `demo.config.${ports.as}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export interface ServeProcess {
  issuer: string;
  api: string;
  demo: string;
  child: ChildProcess;
  /** stdout and stderr together, as they came. */
  output(): string;
  /** stdout alone (JSON log lines unless DPOPKIT_LOG_FORMAT=pretty). */
  stdout(): string;
  /** stderr alone (the banner when stdout is not a terminal). */
  stderr(): string;
  /** SIGTERM, then wait for the exit code. */
  stop(): Promise<number | null>;
}

/** Start `dpopkit serve --config file` and wait until it prints that it is running. */
export async function startServe(configFile: string, ports: ServePorts, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => { log += chunk.toString(); out += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { log += chunk.toString(); err += chunk.toString(); });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const deadline = Date.now() + timeoutMs;
  while (!log.includes('Press Ctrl+C to stop.')) {
    if (child.exitCode !== null) throw new Error(`dpopkit serve exited with ${child.exitCode}:\n${log}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dpopkit serve did not get ready in ${timeoutMs / 1000} s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    issuer: `http://localhost:${ports.as}`,
    api: `http://localhost:${ports.api}/api/hello`,
    demo: `http://localhost:${ports.demo}`,
    child,
    output: () => log,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
