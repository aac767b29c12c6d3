// Before a build: remove dist/ so files of renamed or deleted sources (and their maps) never
// reach the package.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
