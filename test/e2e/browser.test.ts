/**
 * The browser demo, end to end, in real headless Chromium (issue 5 "Evidence"): `dpopkit serve`
 * runs the authorization server, the demo API and the demo page (examples/demo.config.json with
 * its three ports moved to free ephemeral ones and its PGlite data in a temp dir); the test signs
 * in as alice, checks the token is DPoP-bound to the page's key, calls the API (through the
 * nonce retry), replays the token without the key, and inspects the key kept in IndexedDB.
 *
 * Needs `npm run build` first (dist/cli/main.js and demo/dist). The bundle's contents are checked
 * without a browser in demo-build.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import { chromium, type Browser, type Page, type Request as PwRequest, type Response as PwResponse } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChallenge } from '../../src/core/challenge.js';
import { verifyProof } from '../../src/core/proof/verify.js';
import { jwkThumbprint } from '../../src/core/thumbprint.js';
import { freePorts, startServe, writeDemoConfig, type ServeProcess } from '../support/serve-process.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const OUTPUT = join(ROOT, 'test-output', 'e2e');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

if (!HAVE_CHROMIUM) {
  console.warn(`test/e2e/browser.test.ts: SKIPPED, ${CHROMIUM} is absent (apt-get install chromium; .ci/run does it)`);
}

/** `dpopkit serve` on the shipped demo config, its ports moved and its PGlite data in `dir`. */
async function startServers(dir: string): Promise<ServeProcess> {
  const ports = await freePorts();
  return startServe(writeDemoConfig(dir, ports), ports, { DPOPKIT_DATA_DIR: join(dir, 'data') });
}

interface Exchange {
  method: string;
  url: string;
  requestHeaders: Record<string, string>;
  status: number;
  responseHeaders: Record<string, string>;
}

describe.skipIf(!HAVE_CHROMIUM)('browser demo in headless Chromium', () => {
  let dir: string;
  let servers: ServeProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  /** Every non-preflight response, in the order responses arrived; headers filled in as they come. */
  const exchanges: Exchange[] = [];
  const pending: Promise<void>[] = [];
  const requested: string[] = [];
  /** Let every recorded response's headers arrive before looking at them. */
  const settle = async (): Promise<void> => { await Promise.all(pending.splice(0)); };
  const pageErrors: string[] = [];
  /** Console errors on every page (the demo's and the sign-in page): a CSP violation is one. */
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('dist/cli/main.js is missing: run `npm run build` first');
    // `npm run build` builds demo/dist (scripts/post-build.mjs). It is not rebuilt here while it
    // exists: other tests may be serving it at this very moment.
    if (!existsSync(join(ROOT, 'demo', 'dist', 'main.js'))) {
      execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-demo.mjs')], { cwd: ROOT, stdio: 'pipe', env: { ...process.env, DPOPKIT_QUIET: '1' } });
    }
    dir = mkdtempSync(join(tmpdir(), 'dpopkit-e2e-'));
    servers = await startServers(dir);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (message) => {
      // The API's expected 401s (nonce challenge, stolen token) are logged by Chromium as failed loads.
      if (message.type() === 'error' && !/status of 401/.test(message.text())) consoleErrors.push(`${page.url()}: ${message.text()}`);
    });
    page.on('request', (req: PwRequest) => requested.push(req.url()));
    page.on('response', (res: PwResponse) => {
      const req = res.request();
      if (req.method() === 'OPTIONS') return;
      const exchange: Exchange = { method: req.method(), url: req.url(), requestHeaders: {}, status: res.status(), responseHeaders: {} };
      exchanges.push(exchange);
      pending.push(Promise.all([req.allHeaders(), res.allHeaders()]).then(([request, response]) => {
        exchange.requestHeaders = request;
        exchange.responseHeaders = response;
      }, () => undefined));
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    if (servers) {
      await Promise.race([servers.stop(), new Promise((r) => setTimeout(r, 5_000))]);
      if (servers.child.exitCode === null) servers.child.kill('SIGKILL');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const text = async (selector: string): Promise<string> => (await page.locator(selector).textContent())?.trim() ?? '';
  const attr = async (selector: string, name: string): Promise<string> => (await page.locator(selector).getAttribute(name)) ?? '';
  /** The exact JSON a `pre.json` shows (its text also holds notes such as dates). */
  const json = async <T,>(selector: string): Promise<T> => JSON.parse(await attr(selector, 'data-json')) as T;

  /** Fill the authorization server's sign-in form and wait for the demo to show the token. */
  const signInAsAlice = async (): Promise<void> => {
    await page.fill('input[name="username"]', 'alice');
    await page.fill('input[name="password"]', 'wonderland');
    await Promise.all([
      page.waitForURL((url) => url.origin === servers!.demo),
      page.locator('form').first().locator('[type="submit"]').first().click(),
    ]);
    await page.waitForSelector('#jkt-match[data-match]');
  };

  let keyJkt = '';

  it('RFC 9449 §11.4: the page makes a non-extractable key and shows its RFC 7638 thumbprint', async () => {
    await page.goto(servers!.demo);
    await page.waitForSelector('body[data-ready="true"]');
    keyJkt = await text('#key-jkt');
    expect(keyJkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const jwk = await json<{ kty: string; crv: string }>('#key-jwk');
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(await jwkThumbprint(jwk)).toBe(keyJkt);
    expect(await text('#key-extractable')).toContain('extractable: false');
    expect(await text('[data-testid="explainer"]')).toMatch(/DPoP/);
  });

  it('RFC 9449 §10, §5: sign-in with PKCE and dpop_jkt yields a DPoP token whose cnf.jkt is the browser key', async () => {
    await page.click('#sign-in');
    await page.waitForURL((url) => url.origin === servers!.issuer);
    await settle();
    const authorize = new URL(page.url());
    // The authorization request (or the form it led to) carries the key's thumbprint and PKCE S256.
    const authRequest = exchanges.find((e) => e.url.startsWith(`${servers!.issuer}/authorize`));
    expect(authRequest, `no request to ${servers!.issuer}/authorize`).toBeDefined();
    const params = new URL(authRequest!.url).searchParams;
    if (params.has('request_uri')) {
      const par = exchanges.find((e) => e.method === 'POST' && e.url.endsWith('/par'));
      expect(par?.requestHeaders.dpop).toBeDefined();
    } else {
      expect(params.get('dpop_jkt')).toBe(keyJkt);
      expect(params.get('code_challenge_method')).toBe('S256');
      expect(params.get('client_id')).toBe('demo-spa');
    }
    expect(authorize.origin).toBe(servers!.issuer);

    // The sign-in page: the demo's look, the demo credentials as a hint (loginHint in the demo config).
    expect(await text('.hint')).toBe('Demo account: alice / wonderland');
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('button[value="login"]')!).backgroundColor)).toBe('rgb(47, 91, 234)');
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'sign-in.png'), fullPage: true });

    await signInAsAlice();
    expect(await page.getAttribute('#fatal', 'hidden')).not.toBeNull();
    // The code left the address bar.
    expect(new URL(page.url()).search).toBe('');
    await settle();
    const metadata = await (await fetch(`${servers!.issuer}/.well-known/oauth-authorization-server`)).json() as { token_endpoint: string };

    // The token request as it went over the wire: one DPoP proof for POST <token_endpoint>, signed
    // by the browser key (a proof with a server nonce after a use_dpop_nonce 400 is allowed).
    const tokenCalls = exchanges.filter((e) => e.method === 'POST' && e.url === metadata.token_endpoint);
    expect(tokenCalls.length).toBeGreaterThanOrEqual(1);
    const last = tokenCalls.at(-1)!;
    expect(last.status).toBe(200);
    const proof = await verifyProof(last.requestHeaders.dpop, { method: 'POST', url: last.url, replayCache: false, jkt: keyJkt });
    expect(proof.jkt).toBe(keyJkt);
    expect(proof.claims.htu).toBe(metadata.token_endpoint);
    // The page shows the same proof it sent, decoded.
    expect(await page.locator('#token-proofs [data-testid="proof"]').count()).toBe(tokenCalls.length);
    expect(await page.locator('#token-proofs [data-testid="proof"]').last().getAttribute('data-response-status')).toBe('200');

    // The token response shown: token_type DPoP and cnf.jkt = the key's thumbprint.
    expect(await attr('#jkt-match', 'data-match')).toBe('true');
    expect((await attr('#jkt-match', 'data-token-type')).toLowerCase()).toBe('dpop');
    expect(await attr('#jkt-match', 'data-token-jkt')).toBe(keyJkt);
    const claims = await json<{ sub: string; iat: number; exp: number; cnf: { jkt: string } }>('#token-claims');
    expect(claims.cnf.jkt).toBe(keyJkt);
    expect(await text('#token-claims mark')).toContain(keyJkt);
    // Times as people read them: ISO date in UTC and how far from now, next to the epoch number.
    const iso = (epoch: number) => new Date(epoch * 1000).toISOString().replace('T', ' ').slice(0, 19);
    expect(claims.exp - claims.iat).toBe(300); // accessTokenTtl of the demo config
    expect(await text('#token-claims .when[data-claim="exp"]')).toBe(`// ${iso(claims.exp)} UTC (in 5 min)`);
    expect(await text('#token-claims .when[data-claim="iat"]')).toMatch(new RegExp(`^// ${iso(claims.iat)} UTC \\((now|\\d+ s ago)\\)$`));
  });

  it('RFC 9449 §7.1, §9: the API call succeeds after the client retries once with the server nonce', async () => {
    const before = exchanges.length;
    await page.click('#call-api');
    await page.waitForSelector('#api-status[data-status]');
    await settle();
    expect(await attr('#api-status', 'data-status')).toBe('200');
    const body = await json<{ subject: string; clientId: string; jkt: string; scopes: string[] }>('#api-body');
    expect(body.subject).toBe('alice');
    expect(body.clientId).toBe('demo-spa');
    expect(body.jkt).toBe(keyJkt);

    // Over the wire: 401 use_dpop_nonce with a DPoP-Nonce, then one retry with that nonce → 200.
    const calls = exchanges.slice(before).filter((e) => e.method === 'GET' && e.url === servers!.api);
    expect(calls.map((c) => c.status)).toEqual([401, 200]);
    const [first, second] = calls as [Exchange, Exchange];
    expect(findChallenge(first.responseHeaders['www-authenticate'], 'DPoP')?.params.error).toBe('use_dpop_nonce');
    const nonce = first.responseHeaders['dpop-nonce'];
    expect(nonce).toBeTruthy();
    expect(second.requestHeaders.authorization).toMatch(/^DPoP /);
    const accessToken = second.requestHeaders.authorization!.slice(5);
    const verified = await verifyProof(second.requestHeaders.dpop, { method: 'GET', url: servers!.api, replayCache: false, accessToken, jkt: keyJkt });
    expect(verified.claims.nonce).toBe(nonce);
    expect(decodeJwt(accessToken).cnf).toEqual({ jkt: keyJkt });
    // The page lists both proofs, the second marked as the nonce retry.
    const cards = await page.locator('#api-proofs [data-testid="proof"]').evaluateAll((list) => list.map((c) => ({ ...(c as HTMLElement).dataset, text: c.textContent ?? '' })));
    expect(cards.map((c) => c.nonce)).toEqual(['no', 'yes']);
    // ...with the answer each got: the use_dpop_nonce challenge and nonce, then 200.
    expect(cards.map((c) => c.responseStatus)).toEqual(['401', '200']);
    expect(cards[0]!.text).toContain('use_dpop_nonce');
    expect(cards[0]!.text).toContain(`DPoP-Nonce: ${nonce}`);

    // JSON is laid out one member per line, and a member that fits is never broken: in these
    // full-width blocks (the JWK, the proofs, the token) every line renders as one line.
    await page.locator('#step-key details summary').click();
    const layout = await page.locator('#key-jwk, #token-proofs pre.json, #token-response, #token-claims, #api-proofs pre.json, #api-body').evaluateAll((blocks) => blocks.map((b) => {
      const lineHeight = parseFloat(getComputedStyle(b).lineHeight);
      const rows = [...b.querySelectorAll<HTMLElement>('.ln')];
      return { block: b.id || b.closest('[id]')?.id, rows: rows.length, wrapped: rows.filter((r) => r.offsetHeight > lineHeight * 1.5).map((r) => r.textContent) };
    }));
    expect(layout.length).toBeGreaterThanOrEqual(10);
    for (const block of layout) {
      expect(block.rows, JSON.stringify(block)).toBeGreaterThan(2);
      expect(block.wrapped, JSON.stringify(block)).toEqual([]);
    }
  });

  it('RFC 9449 §7.1, §7.2: the stolen token is refused from another key (invalid_token) and as Bearer', async () => {
    await page.click('#steal');
    await page.waitForSelector('#steal-other-key[data-status]');
    await page.waitForSelector('#steal-bearer[data-status]');

    // (a) A valid proof from a different key: the token's cnf.jkt does not match → invalid_token.
    expect(await attr('#steal-other-key', 'data-status')).toBe('401');
    const other = findChallenge(await attr('#steal-other-key', 'data-challenge'), 'DPoP');
    expect(other?.params.error).toBe('invalid_token');
    expect(other?.params.algs).toBeTruthy();
    expect(await text('#steal-other-key [data-field="challenge"]')).toContain('invalid_token');

    // (b) The bound token as a Bearer token: refused; the API offers only the DPoP scheme.
    expect(await attr('#steal-bearer', 'data-status')).toBe('401');
    const bearerHeader = await attr('#steal-bearer', 'data-challenge');
    const dpop = findChallenge(bearerHeader, 'DPoP');
    expect(dpop, `WWW-Authenticate: ${bearerHeader}`).toBeDefined();
    expect(dpop?.params.algs).toBeTruthy();
    expect(findChallenge(bearerHeader, 'Bearer')).toBeUndefined();
    if (dpop?.params.error !== undefined) expect(['invalid_token', 'invalid_request']).toContain(dpop.params.error);

    // Nothing runs off the page sideways; in the half-width cards a long member wraps under
    // itself (hanging indent), inside its string, not back at the block's left edge.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    const wrapped = await page.locator('#step-steal pre.json .ln').evaluateAll((rows) => rows.map((row) => {
      const range = document.createRange();
      range.selectNodeContents(row);
      // The left edge of each rendered line (rects grouped by their top).
      const lines = new Map<number, number>();
      for (const r of range.getClientRects()) if (r.width > 0) lines.set(Math.round(r.top), Math.min(lines.get(Math.round(r.top)) ?? Infinity, Math.round(r.left)));
      const lefts = [...lines.entries()].sort(([a], [b]) => a - b).map(([, left]) => left);
      return { text: row.textContent ?? '', first: lefts[0] ?? 0, rest: lefts.slice(1) };
    }).filter((row) => row.rest.length > 0));
    expect(wrapped.length).toBeGreaterThan(0); // the error_description does not fit half a card
    for (const row of wrapped) for (const left of row.rest) expect(left, row.text).toBeGreaterThan(row.first);

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'demo.png'), fullPage: true });
    expect(existsSync(join(OUTPUT, 'demo.png'))).toBe(true);
  });

  it('RFC 9449 §11.4: the private key in IndexedDB is a non-extractable CryptoKey that cannot be exported', async () => {
    // Read IndexedDB directly (not through the library): every stored CryptoKey pair of this origin.
    const found = await page.evaluate(async () => {
      const out: { extractable: boolean; type: string; usages: string[]; exportRejected: string | null; publicJwk: JsonWebKey | null }[] = [];
      const databases = await indexedDB.databases();
      for (const { name } of databases) {
        if (!name) continue;
        const db = await new Promise<IDBDatabase>((ok, fail) => {
          const open = indexedDB.open(name);
          open.onsuccess = () => ok(open.result);
          open.onerror = () => fail(open.error);
        });
        for (const storeName of Array.from(db.objectStoreNames)) {
          const values = await new Promise<unknown[]>((ok, fail) => {
            const request = db.transaction(storeName, 'readonly').objectStore(storeName).getAll();
            request.onsuccess = () => ok(request.result);
            request.onerror = () => fail(request.error);
          });
          for (const value of values) {
            const pair = value as { privateKey?: unknown; publicKey?: unknown };
            if (!(pair?.privateKey instanceof CryptoKey)) continue;
            const privateKey = pair.privateKey;
            let exportRejected: string | null = null;
            await crypto.subtle.exportKey('jwk', privateKey).then(() => undefined, (err: Error) => { exportRejected = err.name; });
            const publicJwk = pair.publicKey instanceof CryptoKey ? await crypto.subtle.exportKey('jwk', pair.publicKey) : null;
            out.push({ extractable: privateKey.extractable, type: privateKey.type, usages: [...privateKey.usages], exportRejected, publicJwk });
          }
        }
        db.close();
      }
      return out;
    });
    expect(found).toHaveLength(1);
    const [key] = found;
    expect(key!.type).toBe('private');
    expect(key!.extractable).toBe(false);
    expect(key!.usages).toEqual(['sign']);
    expect(key!.exportRejected).toBe('InvalidAccessError');
    // It is the key the token is bound to.
    expect(await jwkThumbprint(key!.publicJwk as never)).toBe(keyJkt);

    // Nor is the access token parked in web storage, where injected script could read it.
    const storage = await page.evaluate(() => ({ local: localStorage.length, session: JSON.stringify({ ...sessionStorage }) }));
    expect(storage.local).toBe(0);
    expect(storage.session).not.toMatch(/eyJ/);

    // It survives a reload: same thumbprint, loaded from IndexedDB, not regenerated.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await text('#key-jkt')).toBe(keyJkt);
  });

  it('RFC 6749 §10.12, RFC 9207 §2.4: a callback with a forged state or a foreign iss is refused before any token request', async () => {
    const tokenRequests = (): number => exchanges.filter((e) => e.method === 'POST' && /\/token$/.test(e.url)).length;
    const before = tokenRequests();
    const callback = async (query: Record<string, string>): Promise<string> => {
      await page.goto(`${servers!.demo}/callback?${new URLSearchParams(query)}`);
      await page.waitForSelector('body[data-ready="true"]');
      return text('#signin-status');
    };

    // Forged state: the tab has a pending sign-in, but not this one (CSRF).
    await page.click('#sign-in');
    await page.waitForURL((url) => url.origin === servers!.issuer);
    expect(await callback({ code: 'forged-code', state: 'forged-state', iss: servers!.issuer })).toMatch(/state .*does not match/);

    // The right state but an authorization response from another issuer (mix-up).
    await page.goto(servers!.demo);
    await page.waitForSelector('body[data-ready="true"]');
    await page.click('#sign-in');
    await page.waitForURL((url) => url.origin === servers!.issuer);
    const state = new URL(page.url()).searchParams.get('state') ?? exchanges.filter((e) => e.url.includes('/authorize?')).map((e) => new URL(e.url).searchParams.get('state')).at(-1)!;
    expect(state).toBeTruthy();
    expect(await callback({ code: 'some-code', state, iss: 'http://localhost:1/evil' })).toMatch(/iss .*not the issuer/);

    // A replayed callback finds no pending request (the verifier was read once).
    expect(await callback({ code: 'some-code', state, iss: servers!.issuer })).toMatch(/no pending sign-in/);
    await settle();
    expect(tokenRequests()).toBe(before);
    // The code never stays in the address bar.
    expect(new URL(page.url()).search).toBe('');
  });

  it('RFC 9126 + RFC 9449 §10.1: with PAR the request is pushed with a proof, the URL carries only request_uri, and the token is bound to the same key', async () => {
    await page.goto(servers!.demo);
    await page.waitForSelector('body[data-ready="true"]');
    await page.check('#use-par');
    const before = exchanges.length;
    await page.click('#sign-in');
    await page.waitForURL((url) => url.origin === servers!.issuer);
    await settle();
    const metadata = await (await fetch(`${servers!.issuer}/.well-known/oauth-authorization-server`)).json() as { pushed_authorization_request_endpoint: string };
    const par = exchanges.slice(before).filter((e) => e.method === 'POST' && e.url === metadata.pushed_authorization_request_endpoint);
    expect(par.at(-1)?.status).toBe(201);
    const parProof = await verifyProof(par.at(-1)!.requestHeaders.dpop, { method: 'POST', url: metadata.pushed_authorization_request_endpoint, replayCache: false, jkt: keyJkt });
    expect(parProof.jkt).toBe(keyJkt);
    const authorize = new URL(exchanges.slice(before).filter((e) => e.url.startsWith(`${servers!.issuer}/authorize`)).at(0)!.url);
    expect(authorize.searchParams.get('request_uri')).toBeTruthy();
    expect(authorize.searchParams.has('dpop_jkt')).toBe(false);
    expect(authorize.searchParams.has('code_challenge')).toBe(false);

    await signInAsAlice();
    expect(await attr('#jkt-match', 'data-match')).toBe('true');
    expect(await attr('#jkt-match', 'data-token-jkt')).toBe(keyJkt);
    // The pushed proof is shown after the trip, with the 201 it got.
    expect(await page.locator('#par-proofs [data-testid="proof"]').last().getAttribute('data-response-status')).toBe('201');
  });

  it('the page used no network beyond localhost and raised no script errors, the sign-in page neither (no CSP violation: the icons are inline and allowed)', () => {
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
    const foreign = requested.filter((url) => !/^(http:\/\/localhost:\d+\/|data:|blob:)/.test(url));
    expect(foreign).toEqual([]);
  });
});
