/**
 * `dpopkit request`: curl for DPoP APIs. Optionally obtains a DPoP-bound token by client
 * credentials (RFC 6749 §4.4, RFC 9449 §5), then sends the request with a fresh proof, answering
 * nonce demands (§8, §9) with the client library's single retry. Prints the body (with `-i`, the
 * status line and headers first); `--verbose` prints to stderr each proof sent, decoded, and each
 * answer (status, `WWW-Authenticate`, `DPoP-Nonce`), so the `use_dpop_nonce` behind a retry shows.
 * `--print-token` prints only the access token obtained, for scripts, and sends no request.
 *
 * Everything the command is given is checked before any network: the URL, the method, the
 * headers, the body file and the key file (`key-file.ts`, the rule every command shares).
 *
 * Exit status: 0 for HTTP < 400; 22 for HTTP ≥ 400 with the body still printed (like
 * `curl --fail-with-body`); 1 when no answer came (network, token endpoint error); 2 for usage
 * and key-file problems.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createDPoPClient, type ProofInfo } from '../../client/dpop-client.js';
import { clientCredentials } from '../../client/oauth/grants.js';
import { decodeJsonSegment } from '../../core/proof/parse.js';
import { parseHttpUrl, parseMethod } from '../http-args.js';
import { readKeyFile, readOrCreateKeyFile } from '../key-file.js';
import { usage } from '../output.js';
import { walk } from '../walk.js';
import { resourceMetadataFromChallenge } from '../../client/discover-resource.js';
import { loadProfile, openProfile, resolvePath } from '../profile.js';

interface RequestOptions {
  method?: string;
  data?: string;
  header: string[];
  key?: string;
  tokenEndpoint?: string;
  clientId?: string;
  clientSecret?: string;
  scope?: string;
  accessToken?: string;
  signInTimeout?: string;
  include?: boolean;
  verbose?: boolean;
  printToken?: boolean;
  profile?: string;
}

/** Exit status for an HTTP error answer, as curl's --fail-with-body. */
export const HTTP_ERROR_EXIT = 22;

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function parseHeader(line: string): [string, string] {
  const colon = line.indexOf(':');
  if (colon <= 0) throw usage(`--header must look like 'Name: value', got ${JSON.stringify(line)}`);
  return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
}

/** `-d @file` reads a file, `-d @-` stdin, anything else is the body itself (as curl). */
async function readData(data: string): Promise<string> {
  if (!data.startsWith('@')) return data;
  const source = data.slice(1);
  try {
    return source === '-' ? readFileSync(0, 'utf8') : await readFile(source, 'utf8');
  } catch (err) {
    throw usage(`cannot read --data ${data}: ${(err as Error).message}`);
  }
}

/** The proof, decoded, for --verbose. */
function describeProof(info: ProofInfo): string {
  const [header, payload] = info.proof.split('.');
  const decodedHeader = decodeJsonSegment(header!, 'header');
  const claims = decodeJsonSegment(payload!, 'payload');
  return `* DPoP proof for ${info.method} ${info.url}\n*   header: ${JSON.stringify(decodedHeader)}\n*   claims: ${JSON.stringify(claims)}\n`;
}

/** An answer, for --verbose: the status and the headers that explain a nonce retry (RFC 9449 §7.1, §8, §9). */
async function describeAnswer(response: Response): Promise<string> {
  let text = `* < HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}\n`;
  const challenge = response.headers.get('www-authenticate');
  const nonce = response.headers.get('dpop-nonce');
  if (challenge) text += `*   WWW-Authenticate: ${challenge}\n`;
  if (nonce) text += `*   DPoP-Nonce: ${nonce}\n`;
  // An authorization server says use_dpop_nonce in a JSON body (§8); show that body's error.
  if (response.status === 400 && /json/.test(response.headers.get('content-type') ?? '')) {
    const body = (await response.clone().json().catch(() => undefined)) as { error?: unknown; error_description?: unknown } | undefined;
    if (typeof body?.error === 'string') text += `*   error: ${body.error}${typeof body.error_description === 'string' ? ` (${body.error_description})` : ''}\n`;
  }
  return text;
}

function networkFailure(url: string, err: unknown): Error {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return new Error(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err)}`);
}

export function register(program: Command): void {
  program
    .command('request')
    .description('send an HTTP request with a DPoP proof (like curl), optionally getting a DPoP-bound token first')
    .argument('[url]', 'the URL to request (absolute http:// or https://)')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST with --data)')
    .option('-d, --data <data>', 'request body; @file reads a file, @- stdin (default content-type: application/x-www-form-urlencoded)')
    .option('-H, --header <header>', "extra header 'Name: value' (repeatable)", collect, [])
    .option('--key <file>', 'private JWK file (mode 0600); created if missing (default: an ephemeral key)')
    .option('--token-endpoint <url>', 'get a DPoP-bound token there by client credentials first')
    .option('--client-id <id>', 'client id for --token-endpoint')
    .option('--client-secret <secret>', 'client secret (client_secret_basic; omit for a public client)')
    .option('--scope <scope>', 'scope to ask for with --token-endpoint')
    .option('--access-token <token>', 'a DPoP-bound access token to present')
    .option('--sign-in-timeout <seconds>', 'with nothing configured, how long to wait for the browser sign-in (default 300)')
    .option('--profile <file>', 'use the key and tokens dpopkit login keeps there (refreshed when they expire)')
    .option('--print-token', 'print only the access token from --token-endpoint on stdout and send no request (needs --key: the token is bound to that key)')
    .option('-i, --include', 'print the status line and response headers before the body')
    .option('--verbose', 'print to stderr each DPoP proof sent (header and claims), each answer (status, WWW-Authenticate, DPoP-Nonce) and the token obtained')
    .action(async (url: string | undefined, opts: RequestOptions) => {
      // Everything given is checked before any network.
      if (opts.printToken) {
        if (opts.tokenEndpoint === undefined) throw usage('--print-token needs --token-endpoint (it prints the token obtained there)');
        if (opts.key === undefined) throw usage('--print-token needs --key FILE: the token is bound to that key, and without it the key dies with this command');
        if (url !== undefined) throw usage('--print-token prints the token and sends no request: leave out the URL (or drop --print-token)');
      } else if (url === undefined) {
        throw usage('missing the URL to request (or --print-token to only get a token)');
      }
      if (url !== undefined) parseHttpUrl(url, 'URL');
      if (opts.tokenEndpoint !== undefined) parseHttpUrl(opts.tokenEndpoint, '--token-endpoint');
      if (opts.tokenEndpoint !== undefined && opts.clientId === undefined) throw usage('--token-endpoint needs --client-id');
      if (opts.tokenEndpoint !== undefined && opts.accessToken !== undefined) throw usage('use --token-endpoint or --access-token, not both');
      if (opts.method !== undefined) parseMethod(opts.method, '-X');
      const signInTimeout = opts.signInTimeout === undefined ? 300 : Number(opts.signInTimeout);
      if (!Number.isInteger(signInTimeout) || signInTimeout <= 0) throw usage('--sign-in-timeout must be a positive whole number of seconds');
      if (opts.profile !== undefined && (opts.key !== undefined || opts.tokenEndpoint !== undefined || opts.accessToken !== undefined)) {
        throw usage('--profile brings its own key and tokens: leave out --key, --token-endpoint and --access-token');
      }
      const headers = new Headers();
      for (const line of opts.header) {
        const [name, value] = parseHeader(line);
        try {
          headers.append(name, value);
        } catch {
          throw usage(`invalid header ${JSON.stringify(line)}`);
        }
      }
      const body = opts.data !== undefined ? await readData(opts.data) : undefined;
      if (body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded');
      const method = opts.method ?? (body !== undefined ? 'POST' : 'GET');
      // A profile of dpopkit login: its tokens, and its key file (under the same rule).
      const profilePath = opts.profile !== undefined ? resolvePath(opts.profile) : undefined;
      const profile = profilePath !== undefined ? openProfile(profilePath, await loadProfile(profilePath)) : undefined;
      // The key file under the rule of every key file (mode 0600, a private JWK, not weak).
      const keyPath = profile ? profile.data.keyFile : opts.key;
      const key = keyPath !== undefined ? (profile ? { ...(await readKeyFile(keyPath)), created: false } : await readOrCreateKeyFile(keyPath)) : undefined;

      const verbose = (text: string) => { if (opts.verbose) process.stderr.write(text); };
      const client = createDPoPClient({
        ...(key !== undefined ? { key: key.keyPair } : {}),
        ...(opts.verbose ? { onProof: (info: ProofInfo) => verbose(describeProof(info)) } : {}),
        fetch: async (input, init) => {
          const response = await globalThis.fetch(input, init);
          if (opts.verbose) verbose(await describeAnswer(response));
          return response;
        },
      });
      if (key?.created) verbose(`* created key file ${opts.key} (mode 0600)\n`);
      verbose(`* key thumbprint (jkt): ${await client.thumbprint()}\n`);

      let accessToken = opts.accessToken;
      if (opts.tokenEndpoint !== undefined) {
        const token = await clientCredentials(client, { tokenEndpoint: opts.tokenEndpoint }, {
          clientId: opts.clientId!,
          ...(opts.clientSecret !== undefined ? { clientSecret: opts.clientSecret } : {}),
          ...(opts.scope !== undefined ? { scope: opts.scope } : {}),
        });
        accessToken = token.access_token;
        verbose(`* token: token_type=${token.token_type}${token.expires_in !== undefined ? ` expires_in=${token.expires_in}` : ''}${token.scope !== undefined ? ` scope=${token.scope}` : ''}\n`);
        if (opts.printToken) {
          // stdout carries the token alone, so `AT=$(dpopkit request … --print-token)` works.
          process.stdout.write(`${token.access_token}\n`);
          return;
        }
      }

      let response: Response;
      try {
        const init = { method, headers, ...(body !== undefined ? { body } : {}) };
        response = profile
          ? await profile.fetch(client, url!, init, verbose)
          : await client.fetch(url!, { ...init, ...(accessToken !== undefined ? { accessToken } : {}) });
      } catch (err) {
        // A refresh the server refused (profile) says so itself; fetch's own failures are TypeErrors.
        if (profile && !(err instanceof TypeError)) throw err;
        throw networkFailure(url!, err);
      }
      // RFC 9728: with nothing configured, a 401 naming the API's metadata starts the walk
      // (walk.ts): discover, register (kept per issuer in the profile), sign in, call again.
      if (response.status === 401 && !profile && accessToken === undefined && opts.tokenEndpoint === undefined
        && resourceMetadataFromChallenge(response.headers.get('www-authenticate')) !== undefined) {
        response = await walk(response, {
          url: url!,
          init: { method, headers, ...(body !== undefined ? { body } : {}) },
          profilePath: resolvePath(undefined),
          keyFile: opts.key,
          scope: opts.scope,
          signInTimeout,
          makeClient: (keyPair, bound = (fetchFn) => fetchFn) => createDPoPClient({
            key: keyPair,
            ...(opts.verbose ? { onProof: (info: ProofInfo) => verbose(describeProof(info)) } : {}),
            fetch: bound(async (input, init) => {
              const answer = await globalThis.fetch(input, init);
              if (opts.verbose) verbose(await describeAnswer(answer));
              return answer;
            }),
          }),
          log: verbose,
          tell: (line) => process.stderr.write(line),
        });
      }
      if (opts.include) {
        let head = `HTTP/1.1 ${response.status} ${response.statusText}\n`;
        for (const [name, value] of response.headers) head += `${name}: ${value}\n`;
        process.stdout.write(`${head}\n`);
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (err) => (err ? reject(err) : resolve())));
      if (response.status >= 400) process.exitCode = HTTP_ERROR_EXIT;
    });
}
