// Token endpoint benchmark: DPoP client_credentials tokens per second through
// real HTTP, for dpopkit's authorization server on PGlite and on PostgreSQL, on PostgreSQL as a
// fleet without Redis runs it (the replay cache in PostgreSQL too, and then also its quota, so
// one client's proofs are counted together by every server), and for node-oidc-provider 9 (DPoP on, clientCredentials on, its default in-memory adapter, JWT access
// tokens via resource indicators, ES256 like ours), in one run.
//
// Each server runs alone in its own child process; the load comes from autocannon in this
// process (so the two cores are split server/load, and the client's cost is not counted against
// either server). A confidential client with client_secret_basic; every request carries a
// distinct, pre-generated ES256 proof. Rounds are interleaved; figures are medians over rounds.
// Target: dpopkit on PostgreSQL ≥ 3x node-oidc-provider.
//
// Note: dpopkit caches a successful client-secret check (scrypt) per client by the presented
// secret's SHA-256, so this measures DPoP and token minting, not scrypt (node-oidc-provider
// compares plain-text secrets).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const SECRET = 'bench-secret-0123456789';
const BODY = 'grant_type=client_credentials&scope=read';

if (process.argv[2] === 'serve') await serveOne(process.argv[3]);
else await main();

// ---- child: one server --------------------------------------------------------------------

async function serveOne(kind) {
  const schema = `dpopkit_bench_${process.pid}`;
  let close;
  let issuer;
  if (kind === 'oidc-provider') {
    const { createServer } = await import('node:http');
    const { exportJWK, generateKeyPair } = await import('jose');
    const { default: Provider } = await import('oidc-provider');
    const server = createServer();
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${server.address().port}`;
    const signing = await generateKeyPair('ES256', { extractable: true });
    const provider = new Provider(issuer, {
      clients: [{ client_id: 'bench', client_secret: SECRET, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' }],
      clientDefaults: { id_token_signed_response_alg: 'ES256' },
      jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: 'nop-1', alg: 'ES256', use: 'sig' }] },
      ttl: { ClientCredentials: 600 },
      features: {
        devInteractions: { enabled: false },
        dPoP: { enabled: true },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => 'https://api.example',
          useGrantedResource: async () => true,
          getResourceServerInfo: async () => ({ scope: 'read', accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'ES256' } } }),
        },
      },
    });
    server.on('request', provider.callback());
    close = async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); };
  } else {
    const { createServer } = await import('node:http');
    const { createAuthorizationServer } = await import('../../dist/authorization-server/index.js');
    const { toNodeHandler } = await import('../../dist/authorization-server/adapters/node.js');
    const { createPGliteStorage, createPostgresReplayCache, createPostgresReplayQuota, createPostgresStorage } = await import('../../dist/stores/postgres.js');
    const storage = kind === 'pglite' ? createPGliteStorage() : createPostgresStorage({ connectionString: PG_URL, schema });
    // A fleet without Redis shares the replay cache ('postgres-cache'), and also its quota
    // ('postgres-cache-quota'), in PostgreSQL: in the storage's schema (one migration).
    const fleet = kind.startsWith('postgres-cache')
      ? { replayCache: createPostgresReplayCache({ connectionString: PG_URL, schema }), store: kind === 'postgres-cache-quota' ? createPostgresReplayQuota({ connectionString: PG_URL, schema }) : undefined }
      : undefined;
    // Served as `dpopkit serve` serves it: node:http through the node adapter.
    let listener = (_req, res) => res.writeHead(503).end('starting');
    const server = await new Promise((resolve) => {
      const s = createServer((req, res) => listener(req, res)).listen(0, '127.0.0.1', () => resolve(s));
    });
    issuer = `http://127.0.0.1:${server.address().port}`;
    const as = await createAuthorizationServer({
      issuer,
      storage,
      clients: [{ clientId: 'bench', tokenEndpointAuthMethod: 'client_secret_basic', clientSecret: SECRET, grantTypes: ['client_credentials'], scope: 'read' }],
      tokens: { audience: 'https://api.example' },
      // One client sends every proof: lift its replay quota (1000 live jtis by default) above a run's count.
      dpop: { replayQuota: { perClient: 10_000_000, ...(fleet?.store ? { store: fleet.store } : {}) } },
      ...(fleet ? { replayCache: fleet.replayCache } : {}),
    });
    listener = toNodeHandler(as);
    close = async () => {
      await as.close();
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
      await storage.close();
      await fleet?.store?.close();
      await fleet?.replayCache.close();
      if (kind !== 'pglite') {
        const { default: pg } = await import('pg');
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      }
    };
  }
  process.on('message', async (m) => {
    if (m === 'close') {
      await close();
      process.exit(0);
    }
  });
  process.send({ issuer });
}

// ---- parent: load ---------------------------------------------------------------------------

async function main() {
  const { default: autocannon } = await import('autocannon');
  const { createProof, generateKeyPair } = await import('../../dist/index.js');
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
  const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 2);
  const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
  const keyPair = await generateKeyPair('ES256');
  const auth = `Basic ${Buffer.from(`bench:${SECRET}`).toString('base64')}`;

  const start = (kind, name) => new Promise((resolve, reject) => {
    // BENCH_PROF=dir BENCH_PROF_KIND=postgres: a V8 CPU profile of that server.
    const prof = process.env.BENCH_PROF && kind === (process.env.BENCH_PROF_KIND ?? 'postgres') ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
    const child = fork(SELF, ['serve', kind], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: prof });
    child.once('message', ({ issuer }) => resolve({ name, child, token: `${issuer}/token`, proofs: [] }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });

  async function fill(target, n) {
    while (target.proofs.length < n) target.proofs.push(await createProof(keyPair, { htm: 'POST', htu: target.token }));
  }

  /** Tokens per second over ROUND_S seconds (every answer must be a 200 DPoP token). */
  async function rate(target, seconds) {
    let ranOut = false;
    const result = await autocannon({
      url: target.token,
      connections: CONNECTIONS,
      duration: seconds,
      requests: [{
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
        body: BODY,
        onResponse: (status, body) => { if (status !== 200 && process.env.BENCH_VERBOSE && !target.shown) { target.shown = true; console.error(`${target.name}: ${status} ${body}`); } },
        setupRequest: (req) => {
          const proof = target.proofs.pop();
          if (!proof) ranOut = true;
          return { ...req, headers: { ...req.headers, dpop: proof ?? 'exhausted' } };
        },
      }],
    });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target.name}: ${result.non2xx} non-2xx answers, ${result.errors} errors (${JSON.stringify(result.statusCodeStats)})`);
    if (ranOut) throw new Error(`${target.name}: ran out of proofs`);
    return result.requests.total / seconds;
  }

  const targets = [];
  try {
    targets.push(await start('pglite', 'dpopkit on PGlite'));
    targets.push(await start('postgres', 'dpopkit on PostgreSQL'));
    targets.push(await start('postgres-cache', 'dpopkit on PostgreSQL, replay cache there too'));
    targets.push(await start('postgres-cache-quota', 'dpopkit on PostgreSQL, replay cache and quota there too'));
    targets.push(await start('oidc-provider', 'node-oidc-provider 9'));
    // Warm up (JIT, caches) and learn how many proofs a round needs.
    // The first second runs cold (JIT, caches): size the pools from a second, warm one, with room
    // to spare, and grow them whenever a round runs faster than the pools allow for.
    let peak = 0;
    for (const t of targets) {
      for (let w = 0; w < 2; w++) {
        await fill(t, Math.max(20_000, Math.ceil(peak * 3)));
        peak = Math.max(peak, await rate(t, 1));
      }
    }
    let need = Math.ceil(peak * ROUND_S * 3) + CONNECTIONS;
    const rates = targets.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, t] of targets.entries()) {
        await fill(t, need);
        rates[i].push(await rate(t, ROUND_S));
        need = Math.max(need, Math.ceil(rates[i][r] * ROUND_S * 3) + CONNECTIONS);
      }
      if (process.env.BENCH_VERBOSE) console.log(`round ${r}: ${targets.map((t, i) => `${t.name} ${Math.round(rates[i][r])}/s`).join(', ')}`);
    }
    const NOP = targets.length - 1;
    // Ratios per round (the servers ran back to back), then the median: robust to load drift.
    const ratioOf = (i, to = NOP) => median(rates[i].map((v, r) => v / rates[to][r]));
    console.log(`DPoP client_credentials over HTTP (autocannon, ${CONNECTIONS} connections), ES256 proofs and tokens; medians of ${ROUNDS} rounds of ${ROUND_S} s`);
    console.table(targets.map((t, i) => ({ server: t.name, 'tokens/s': Math.round(median(rates[i])), '÷ oidc-provider': ratioOf(i).toFixed(2) })));
    const ratio = ratioOf(1);
    console.log(`dpopkit on PostgreSQL ÷ node-oidc-provider: ${ratio.toFixed(2)}x (target ≥ 3x) ${ratio >= 3 ? 'OK' : 'BELOW TARGET'}`);
    console.log(`sharing on PostgreSQL ÷ this process's memory: the replay cache ${ratioOf(2, 1).toFixed(2)}x; the replay cache and its quota ${ratioOf(3, 1).toFixed(2)}x (the quota alone ${ratioOf(3, 2).toFixed(2)}x)`);
  } finally {
    for (const t of targets) {
      t.child.removeAllListeners('exit');
      await new Promise((r) => { t.child.once('exit', r); t.child.send('close'); });
    }
  }
}
