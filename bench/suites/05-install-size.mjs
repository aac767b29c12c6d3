// Install size: what `npm install dpopkit` puts on disk for a client or API team. The package
// is packed as it would be published, installed from the tarball in a scratch project with
// production settings (no dev, no optional peers), then measured. Target: ≤ 3 MB and no other
// package (jose and oauth4webapi install with zero dependencies too).
import { packAndInstall } from '../../scripts/pack-install.mjs';

const TARGET_BYTES = 3 * 1024 * 1024;
const result = packAndInstall();
try {
  const others = result.packages.filter((p) => p !== 'dpopkit');
  const mb = (n) => `${(n / 1024 / 1024).toFixed(2)} MB`;
  console.log('| measure | value | target | result |');
  console.log('|---|---|---|---|');
  console.log(`| tarball | ${mb(result.tarballBytes)} | | |`);
  console.log(`| installed (node_modules) | ${mb(result.installedBytes)} | ≤ 3 MB | ${result.installedBytes <= TARGET_BYTES ? 'PASS' : 'MISS'} |`);
  console.log(`| other packages installed | ${others.length ? others.join(', ') : 'none'} | none | ${others.length ? 'MISS' : 'PASS'} |`);
  for (const [entry, outcome] of Object.entries(result.loaded)) console.log(`| import '${entry}' | ${outcome} | loads | ${outcome === 'ok' ? 'PASS' : 'MISS'} |`);
} finally {
  result.cleanup();
}
