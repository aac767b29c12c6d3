/**
 * `dpopkit login`: sign in to an authorization server as a first-party app, without a browser
 * (draft-ietf-oauth-first-party-apps-04), with a DPoP proof on every step (RFC 9449). Asks for
 * the password (not echoed) and, for accounts with one, the one-time code, on the terminal, or
 * reads them from stdin line by line when it is not a terminal. Keeps the DPoP key (its own file,
 * mode 0600) and the tokens and `auth_session` in the profile (mode 0600), which
 * `dpopkit request --profile` then uses and refreshes.
 *
 * `--resource` (RFC 8707, repeatable) names the API(s) the tokens are for (their `aud`); the
 * profile records it, so `dpopkit request URL` (the discovery walk) uses these tokens for that
 * resource instead of signing in again.
 *
 * When the server answers `redirect_to_web`, the URL to open is printed; with `--redirect-uri`
 * (a loopback URI registered for the client) dpopkit waits there for the browser to come back
 * and redeems the code with the same key and PKCE verifier.
 *
 * Exit status: 0 signed in; 1 refused (wrong credentials, throttled, no answer); 2 usage.
 *
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { createDPoPClient, type DPoPClient } from '../../client/dpop-client.js';
import { discover } from '../../client/oauth/discovery.js';
import { exchangeCode } from '../../client/oauth/grants.js';
import type { AuthorizationServerMetadata, TokenResponse } from '../../client/oauth/types.js';
import { signIn, type RedirectToWeb, type SignInOptions } from '../../client/sign-in.js';
import { parseHttpUrl } from '../http-args.js';
import { readOrCreateKeyFile } from '../key-file.js';
import { usage } from '../output.js';
import { keyFileFor, resolvePath, saveProfile, type ProfileData } from '../profile.js';
import { createPrompter } from '../prompt.js';

interface LoginOptions {
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  username?: string;
  profile?: string;
  key?: string;
  scope?: string;
  acrValues?: string;
  maxAge?: string;
  resource: string[];
  redirectUri?: string;
  timeout: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The claims of a JWT access token, for the summary line (unverified: the server just sent it). */
function claimsOf(token: string): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * The browser fallback: wait on the loopback redirect URI for the authorization response (RFC
 * 8252 §7.3), check its `iss` (RFC 9207), and redeem the code with the pushed request's PKCE
 * verifier and this key.
 */
async function finishInBrowser(client: DPoPClient, metadata: AuthorizationServerMetadata, web: RedirectToWeb, options: { clientId: string; clientSecret?: string; redirectUri: string; timeoutMs: number }): Promise<TokenResponse> {
  const redirect = new URL(options.redirectUri);
  const port = Number(redirect.port || 80);
  const params = await new Promise<URLSearchParams>((resolve, reject) => {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', options.redirectUri);
      if (url.pathname !== redirect.pathname) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('dpopkit: you can close this window and return to the terminal.\n');
      clearTimeout(timer);
      server.close();
      resolve(url.searchParams);
    });
    const timer = setTimeout(() => {
      server.close();
      reject(new Error(`no answer from the browser within ${Math.round(options.timeoutMs / 1000)} s`));
    }, options.timeoutMs);
    server.once('error', (err) => reject(new Error(`cannot listen on ${options.redirectUri}: ${(err as Error).message}`)));
    server.listen(port, redirect.hostname === 'localhost' ? '127.0.0.1' : redirect.hostname);
  });
  const error = params.get('error');
  if (error !== null) throw new Error(`the browser sign-in ended with ${error}${params.get('error_description') ? `: ${params.get('error_description')}` : ''}`);
  const code = params.get('code');
  if (code === null) throw new Error('the browser came back without a code');
  return exchangeCode(client, metadata, {
    clientId: options.clientId,
    ...(options.clientSecret !== undefined ? { clientSecret: options.clientSecret } : {}),
    code,
    redirectUri: options.redirectUri,
    codeVerifier: web.codeVerifier!,
    ...(params.get('iss') !== null ? { iss: params.get('iss')! } : {}),
  });
}

export function register(program: Command): void {
  program
    .command('login')
    .description('sign in as a first-party app without a browser (authorization challenge endpoint, DPoP on every step); keeps the key and tokens in a profile')
    .requiredOption('--issuer <url>', 'the authorization server (its metadata is discovered, RFC 8414)')
    .requiredOption('--client-id <id>', 'a client the server configures as first-party')
    .option('--client-secret <secret>', 'for a confidential first-party client (client_secret_basic)')
    .option('--username <name>', 'who signs in (asked when omitted)')
    .option('--profile <file>', 'where the tokens are kept (mode 0600)', undefined)
    .option('--key <file>', 'the DPoP key file (default: <profile>.key.json beside the profile; created if missing)')
    .option('--scope <scope>', 'scope to ask for')
    .option('--acr-values <values>', 'RFC 9470: authentication levels wanted, space-separated')
    .option('--max-age <seconds>', 'RFC 9470: the sign-in may be at most this old')
    .option('--resource <uri>', 'RFC 8707: the API the tokens are for (their aud; repeatable)', collect, [])
    .option('--redirect-uri <uri>', 'a loopback redirect URI registered for the client: if the server wants a browser, wait there for it')
    .option('--timeout <seconds>', 'how long to wait for the browser with --redirect-uri', '300')
    .action(async (opts: LoginOptions) => {
      const issuer = opts.issuer!;
      parseHttpUrl(issuer, '--issuer');
      if (opts.redirectUri !== undefined) {
        const uri = parseHttpUrl(opts.redirectUri, '--redirect-uri');
        if (!['127.0.0.1', 'localhost', '[::1]'].includes(uri.hostname) || uri.protocol !== 'http:') throw usage('--redirect-uri must be a loopback http URI (RFC 8252 §7.3), e.g. http://127.0.0.1:8976/callback');
      }
      if (opts.maxAge !== undefined && !/^[0-9]+$/.test(opts.maxAge)) throw usage('--max-age must be a number of seconds');
      for (const resource of opts.resource) {
        if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(resource) || resource.includes('#') || !URL.canParse(resource)) throw usage(`--resource must be an absolute URI without fragment (RFC 8707 §2): ${resource}`);
      }
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw usage('--timeout must be a positive number of seconds');
      const profilePath = resolvePath(opts.profile);
      const keyFile = resolvePath(opts.key ?? keyFileFor(profilePath));

      // The profile's directory (owner only), and the key in it, before any network.
      await mkdir(dirname(profilePath), { recursive: true, mode: 0o700 });
      await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
      const key = await readOrCreateKeyFile(keyFile);
      const client = createDPoPClient({ key: key.keyPair });
      const metadata = await discover(issuer);
      const prompter = createPrompter();
      let username = opts.username;
      try {
        if (username === undefined) username = await prompter.ask('Username: ', false);
        const signInOptions: SignInOptions = {
          clientId: opts.clientId!,
          username,
          onPassword: ({ error }) => {
            if (error) process.stderr.write(`${error}\n`);
            return prompter.ask(`Password for ${username}: `, true);
          },
          onOtp: ({ error }) => {
            if (error) process.stderr.write(`${error}\n`);
            return prompter.ask('One-time code: ', true);
          },
          ...(opts.clientSecret !== undefined ? { clientSecret: opts.clientSecret } : {}),
          ...(opts.scope !== undefined ? { scope: opts.scope } : {}),
          ...(opts.acrValues !== undefined ? { acrValues: opts.acrValues.split(' ').filter(Boolean) } : {}),
          ...(opts.maxAge !== undefined ? { maxAge: Number(opts.maxAge) } : {}),
          ...(opts.resource.length > 0 ? { resource: opts.resource } : {}),
          ...(opts.redirectUri !== undefined ? { redirectUri: opts.redirectUri } : {}),
        };
        const result = await signIn(client, metadata, signInOptions);
        let tokens: TokenResponse;
        if (result.redirectToWeb) {
          const web = result.redirectToWeb;
          const why = web.description ? ` (${web.description})` : '';
          if (!web.url || opts.redirectUri === undefined) {
            const open = web.url ? `: open ${web.url.href} and run again with --redirect-uri to let dpopkit receive the answer` : '';
            throw new Error(`the server wants this sign-in finished in a browser${why}${open}`);
          }
          process.stderr.write(`The server wants this sign-in finished in a browser${why}.\nOpen this URL to continue (waiting up to ${timeout} s):\n\n  ${web.url.href}\n\n`);
          tokens = await finishInBrowser(client, metadata, web, {
            clientId: opts.clientId!,
            ...(opts.clientSecret !== undefined ? { clientSecret: opts.clientSecret } : {}),
            redirectUri: opts.redirectUri,
            timeoutMs: timeout * 1000,
          });
        } else {
          tokens = result.tokens;
        }
        const data: ProfileData = {
          version: 1,
          issuer,
          clientId: opts.clientId!,
          username,
          keyFile,
          metadata: {
            issuer: metadata.issuer,
            ...(metadata.token_endpoint !== undefined ? { token_endpoint: metadata.token_endpoint } : {}),
            ...(metadata.revocation_endpoint !== undefined ? { revocation_endpoint: metadata.revocation_endpoint } : {}),
            ...(metadata.authorization_endpoint !== undefined ? { authorization_endpoint: metadata.authorization_endpoint } : {}),
            ...(metadata.authorization_challenge_endpoint !== undefined ? { authorization_challenge_endpoint: metadata.authorization_challenge_endpoint } : {}),
          },
          tokens,
          authSession: result.authSession,
          // RFC 8707: what the tokens are for (one resource: the identifier the walk compares).
          ...(opts.resource.length > 0 ? { resource: opts.resource.length === 1 ? opts.resource[0]! : [...opts.resource] } : {}),
        };
        await saveProfile(profilePath, data);
        const claims = claimsOf(tokens.access_token);
        const level = typeof claims.acr === 'string' ? `, ${claims.acr}` : '';
        process.stdout.write(`Signed in as ${String(claims.sub ?? username)} at ${issuer}${level}.\nProfile: ${profilePath} (DPoP key: ${keyFile}${key.created ? ', new' : ''})\n`);
      } finally {
        prompter.close();
      }
    });
}
