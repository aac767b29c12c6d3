// The shipped demo configuration (examples/demo.config.json) moved to other ports, for the
// tests, benchmarks and the soak that run it beside other servers. Used by
// test/support/serve-process.ts, test/security/serve-shared-replay-cache.test.ts,
// bench/suites/50-fleet.mjs and scripts/soak.mjs.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const ROOT = resolve(new URL('..', import.meta.url).pathname);

/** The demo's listeners: the authorization server, the API and the browser page. */
const SHIPPED = { as: 4000, api: 4001, demo: 4002 };

/**
 * The demo configuration's text with each shipped `localhost:<port>` moved to `ports` (a role
 * not given keeps its port). One pass over the text: replacing the ports one after another would
 * rewrite a port just written (4000 → 40013, then 4001 → 37339 gives 373393).
 */
export function demoConfigText(ports) {
  const moved = new Map(Object.entries(SHIPPED).map(([role, port]) => [String(port), ports[role] ?? port]));
  const text = readFileSync(join(ROOT, 'examples', 'demo.config.json'), 'utf8');
  return text.replace(/localhost:(\d+)\b/g, (whole, port) => (moved.has(port) ? `localhost:${moved.get(port)}` : whole));
}

/** The demo configuration, parsed, on `ports` (see demoConfigText). */
export function demoConfigOn(ports) {
  return JSON.parse(demoConfigText(ports));
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}
