// After tsc: make the CLI entry executable (npm links it as the `dpopkit` bin) and build the
// browser demo when its build script exists.
import { chmodSync, existsSync } from 'node:fs';

if (existsSync('dist/cli/main.js')) chmodSync('dist/cli/main.js', 0o755);
if (existsSync('scripts/build-demo.mjs')) await import('./build-demo.mjs');
