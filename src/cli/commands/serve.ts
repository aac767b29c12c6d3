/**
 * `dpopkit serve --config FILE`: run the authorization server, the demo API and the demo page.
 *
 * @module
 */
import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { ENVIRONMENT } from '../config/environment.js';

/**
 * The demo configuration shipped with the package: found from this file, not from the working
 * directory, so `npx dpopkit serve` works in any project that installed dpopkit.
 */
const DEMO_CONFIG = fileURLToPath(new URL('../../../examples/demo.config.json', import.meta.url));

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the authorization server, the DPoP-protected demo API and the browser demo')
    .option('-c, --config <file>', 'configuration file (JSON)', process.env.DPOPKIT_CONFIG ?? DEMO_CONFIG)
    .option('-w, --workers <n>', 'processes (node:cluster) sharing the ports, PostgreSQL and the Redis replay cache', (value) => Number.parseInt(value, 10), 1)
    .addHelpText('after', `\nEnvironment (overrides the file):\n${Object.entries(ENVIRONMENT).map(([name, what]) => `  ${name.padEnd(22)}${what}`).join('\n')}\n`)
    .action(async (options: { config: string; workers: number }) => {
      // The server side (zod, pino, hono, PGlite …) loads only for this command.
      const [{ loadConfig }, { startServers }] = await Promise.all([import('../config/load.js'), import('../serve/start.js')]);
      const config = await loadConfig(options.config);
      const fleet = await import('../serve/workers.js');
      const problem = Number.isInteger(options.workers) && options.workers >= 1 ? fleet.workersProblem(config, options.workers) : '--workers must be a whole number, at least 1';
      if (problem) {
        process.stderr.write(`dpopkit: ${problem}\n`);
        process.exit(2);
      }
      if (options.workers > 1 && !fleet.isWorker()) {
        // The admin port is the primary's: one /metrics summing every worker, one /readyz.
        let admin: { draining(): void } | undefined;
        const workers = await fleet.superviseWorkers(options.workers, config.shutdownTimeout * 1000, () => admin?.draining());
        if (config.admin) {
          const { startFleetAdmin } = await import('../serve/fleet-admin.js');
          admin = await startFleetAdmin(config.admin, workers);
        }
        const banner = `dpopkit is running: ${options.workers} workers\n  authorization server  ${config.authorizationServer.issuer}\n${config.api ? `  DPoP-protected API    ${new URL('/api/hello', config.api.url).href}\n` : ''}Press Ctrl+C to stop.\n`;
        // As one process does: with JSON lines on stdout (no terminal), the banner goes to stderr.
        const { resolveLogFormat } = await import('../serve/logger.js');
        (resolveLogFormat(config.log.format) === 'json' ? process.stderr : process.stdout).write(banner);
        return;
      }
      const running = await startServers(config, { fleetWorker: fleet.isWorker() });
      if (fleet.isWorker()) {
        // One of --workers N: the primary prints the banner and passes signals on.
        fleet.reportReady();
        fleet.stopOnSignal(() => running.close(), config.shutdownTimeout);
        return;
      }
      const { issuer, api, demo } = running.urls;
      const banner = [
        'dpopkit is running:',
        `  authorization server  ${issuer}  (metadata: ${new URL('.well-known/oauth-authorization-server', withSlash(issuer)).href})`,
        api ? `  DPoP-protected API    ${new URL('/api/hello', api).href}` : undefined,
        demo ? `  browser demo          ${demo}   ← open this` : undefined,
        'Press Ctrl+C to stop.',
        '',
      ].filter((line) => line !== undefined).join('\n');
      if (running.logFormat === 'json') {
        // stdout is JSON lines for programs: the URLs go there as an event, the banner to the person on stderr.
        running.logger.info({ issuer, api: api ? new URL('/api/hello', api).href : undefined, demo }, 'dpopkit is running');
        process.stderr.write(banner);
      } else {
        process.stdout.write(banner);
      }
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        // Requests in flight finish, then the pools close; past `shutdownTimeout`, exit non-zero.
        setTimeout(() => {
          process.stderr.write(`dpopkit: still closing after ${config.shutdownTimeout} s (shutdownTimeout): exiting\n`);
          process.exit(1);
        }, config.shutdownTimeout * 1000).unref();
        running.close().then(() => process.exit(0), () => process.exit(1));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
