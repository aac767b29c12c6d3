/**
 * `dpopkit request`: curl for DPoP APIs. Optionally obtains a DPoP-bound token by client
 * credentials (RFC 6749 §4.4, RFC 9449 §5), then sends the request with a fresh proof, answering
 * nonce demands (§8, §9) with the client library's single retry. Prints the body (with `-i`, the
 * status line and headers first); `--verbose` prints each proof sent, decoded, to stderr.
 *
 * Exit status: 0 for HTTP < 400; 22 for HTTP ≥ 400 with the body still printed (like
 * `curl --fail-with-body`); 1 when no answer came (network, token endpoint error); 2 for usage.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createDPoPClient, type ProofInfo } from '../../client/dpop-client.js';
import { fileKeyStore } from '../../client/key-store/file.js';
import { clientCredentials } from '../../client/oauth/grants.js';
import { decodeJsonSegment } from '../../core/proof/parse.js';
import { usage } from '../output.js';

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
  include?: boolean;
  verbose?: boolean;
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

function networkFailure(url: string, err: unknown): Error {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return new Error(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err)}`);
}

export function register(program: Command): void {
  program
    .command('request')
    .description('send an HTTP request with a DPoP proof (like curl), optionally getting a DPoP-bound token first')
    .argument('<url>', 'the URL to request')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST with --data)')
    .option('-d, --data <data>', 'request body; @file reads a file, @- stdin (default content-type: application/x-www-form-urlencoded)')
    .option('-H, --header <header>', "extra header 'Name: value' (repeatable)", collect, [])
    .option('--key <file>', 'private JWK file (mode 0600); created if missing (default: an ephemeral key)')
    .option('--token-endpoint <url>', 'get a DPoP-bound token there by client credentials first')
    .option('--client-id <id>', 'client id for --token-endpoint')
    .option('--client-secret <secret>', 'client secret (client_secret_basic; omit for a public client)')
    .option('--scope <scope>', 'scope to ask for with --token-endpoint')
    .option('--access-token <token>', 'a DPoP-bound access token to present')
    .option('-i, --include', 'print the status line and response headers before the body')
    .option('--verbose', 'print each DPoP proof sent (header and claims) and the token obtained to stderr')
    .action(async (url: string, opts: RequestOptions) => {
      try {
        new URL(url);
      } catch {
        throw usage(`${JSON.stringify(url)} is not an absolute URL`);
      }
      if (opts.tokenEndpoint !== undefined && opts.clientId === undefined) throw usage('--token-endpoint needs --client-id');
      if (opts.tokenEndpoint !== undefined && opts.accessToken !== undefined) throw usage('use --token-endpoint or --access-token, not both');
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

      const client = createDPoPClient({
        ...(opts.key !== undefined ? { keyStore: fileKeyStore(opts.key) } : {}),
        ...(opts.verbose ? { onProof: (info: ProofInfo) => process.stderr.write(describeProof(info)) } : {}),
      });
      if (opts.verbose) process.stderr.write(`* key thumbprint (jkt): ${await client.thumbprint()}\n`);

      let accessToken = opts.accessToken;
      if (opts.tokenEndpoint !== undefined) {
        const token = await clientCredentials(client, { tokenEndpoint: opts.tokenEndpoint }, {
          clientId: opts.clientId!,
          ...(opts.clientSecret !== undefined ? { clientSecret: opts.clientSecret } : {}),
          ...(opts.scope !== undefined ? { scope: opts.scope } : {}),
        });
        accessToken = token.access_token;
        if (opts.verbose) {
          process.stderr.write(`* token: token_type=${token.token_type}${token.expires_in !== undefined ? ` expires_in=${token.expires_in}` : ''}${token.scope !== undefined ? ` scope=${token.scope}` : ''}\n`);
        }
      }

      let response: Response;
      try {
        response = await client.fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), ...(accessToken !== undefined ? { accessToken } : {}) });
      } catch (err) {
        throw networkFailure(url, err);
      }
      if (opts.verbose) process.stderr.write(`* HTTP ${response.status}${response.headers.get('dpop-nonce') ? ` (DPoP-Nonce: ${response.headers.get('dpop-nonce')})` : ''}\n`);
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
