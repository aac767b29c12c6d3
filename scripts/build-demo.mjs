// Build the browser demo (demo/ → demo/dist/) with esbuild: one ESM bundle of demo/src/main.ts,
// which imports dpopkit's client and core straight from the TypeScript sources, with `#crypto`
// pointing at the WebCrypto backend. Then copy the static files and prove the bundle holds no
// server code (issue 5: "the browser bundle contains no server code").
// Run by scripts/post-build.mjs after tsc, or alone: `node scripts/build-demo.mjs`.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// DPOPKIT_DEMO_OUTDIR builds elsewhere (the build test uses a temp dir, so it never empties the
// demo/dist that a running `dpopkit serve` is serving).
const outdir = process.env.DPOPKIT_DEMO_OUTDIR ? resolve(process.env.DPOPKIT_DEMO_OUTDIR) : join(root, 'demo', 'dist');
const webCrypto = join(root, 'src', 'core', 'crypto', 'web.ts');

/** `#crypto` is a package.json "imports" alias; in the browser it is always the WebCrypto backend. */
const webCryptoPlugin = {
  name: 'dpopkit-web-crypto',
  setup(build) {
    build.onResolve({ filter: /^#crypto$/ }, () => ({ path: webCrypto }));
  },
};

/** Bundle, copy, check. Throws (failing `npm run build`) when the bundle is not browser-only. */
async function buildDemo() {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });

  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: 'demo/src/main.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir,
    sourcemap: true,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [webCryptoPlugin],
  });

  for (const file of ['index.html', 'style.css']) copyFileSync(join(root, 'demo', file), join(outdir, file));

  // No server code in the bundle: every input must be demo/, the client, or core (with the web
  // backend only), and no npm package at all; the output must import nothing at run time and must
  // not name node: modules or server packages.
  const SERVER_PACKAGES = ['pg', 'hono', '@hono/node-server', 'ioredis', '@electric-sql/pglite', 'pino', 'commander', 'jose', 'zod'];
  const problems = [];
  for (const input of Object.keys(result.metafile.inputs)) {
    const path = input.replace(/\\/g, '/');
    const allowed = path.startsWith('demo/src/') || path.startsWith('src/client/') || (path.startsWith('src/core/') && path !== 'src/core/crypto/node.ts');
    if (!allowed) problems.push(`bundle input ${path} is not browser code (demo/src, src/client, src/core)`);
  }
  const bundle = readFileSync(join(outdir, 'main.js'), 'utf8');
  const imports = [...bundle.matchAll(/\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\brequire\s*\(\s*["']([^"']+)["']\s*\)/g)]
    .map((m) => m[1] ?? m[2] ?? m[3]);
  for (const spec of imports) problems.push(`bundle still imports "${spec}" at run time`);
  if (/["']node:[a-z_/]+["']/.test(bundle)) problems.push('bundle mentions a node: module');
  for (const name of SERVER_PACKAGES) {
    if (new RegExp(`["'/]${name.replace('/', '\\/')}["'/]`).test(bundle)) problems.push(`bundle mentions the server package "${name}"`);
  }
  if (problems.length) {
    throw new Error(`build-demo: the browser bundle is not clean:\n  ${problems.join('\n  ')}`);
  }

  const bytes = Buffer.byteLength(bundle);
  writeFileSync(join(outdir, 'build.json'), JSON.stringify({ inputs: Object.keys(result.metafile.inputs).sort(), bytes }, null, 2));
  if (!process.env.DPOPKIT_QUIET) console.log(`build-demo: ${relative(root, join(outdir, 'main.js')) || join(outdir, 'main.js')} ${(bytes / 1024).toFixed(1)} KiB from ${Object.keys(result.metafile.inputs).length} modules, no server code`);
}

// While the client library is being written its entry may be missing: say so, and let the rest of
// `npm run build` (tsc for everything else) succeed.
if (existsSync(join(root, 'src', 'client', 'index.ts'))) await buildDemo();
else console.warn('build-demo: skipped, src/client/index.ts does not exist yet');
