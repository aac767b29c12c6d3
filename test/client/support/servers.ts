/**
 * Small real HTTP servers for the client tests (node:http on port 0): a resource server and a
 * token endpoint that check every proof with core's verifyProof and can demand nonces.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatChallenge } from '../../../src/core/challenge.js';
import { DPoPError } from '../../../src/core/errors.js';
import type { NonceCheck, NonceSource } from '../../../src/core/nonce.js';
import { verifyProof, type VerifiedProof } from '../../../src/core/proof/verify.js';
import { createMemoryReplayCache } from '../../../src/stores/memory.js';

/** What the server saw of one request. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface TestServer {
  /** Base URL, e.g. http://127.0.0.1:1234 */
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** Headers with `undefined` values are left out. */
export type Answer = { status?: number; headers?: Record<string, string | undefined>; body?: string | undefined };
export type Handler = (req: Seen) => Promise<Answer> | Answer;

/** Start a server answering with `handler`. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const seen: Seen[] = [];
  let base = '';
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: Seen = { method: req.method ?? '', url: `${base}${req.url ?? '/'}`, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(entry);
      Promise.resolve(handler(entry)).then((out) => {
        const headers = Object.fromEntries(Object.entries(out.headers ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
        res.writeHead(out.status ?? 200, headers);
        res.end(out.body ?? '');
      }, (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    seen,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A nonce source the test controls: `value` is the only valid nonce; `rotate()` replaces it. */
export function controlledNonces(prefix = 'n'): NonceSource & { value: string; rotate(): string } {
  let counter = 0;
  const source = {
    value: `${prefix}-${counter}`,
    rotate() {
      source.value = `${prefix}-${++counter}`;
      return source.value;
    },
    current() {
      return source.value;
    },
    check(nonce: string): NonceCheck {
      return nonce === source.value ? { valid: true, expiresAt: Math.floor(Date.now() / 1000) + 60 } : { valid: false };
    },
  };
  return source;
}

/** Verify the request's proof as a resource server would; throws DPoPError. */
export async function checkProof(req: Seen, options: { nonces?: NonceSource; accessToken?: string; jkt?: string; replay?: ReturnType<typeof createMemoryReplayCache> } = {}): Promise<VerifiedProof> {
  return verifyProof(req.headers.dpop, {
    method: req.method,
    url: req.url,
    replayCache: options.replay ?? false,
    ...(options.accessToken !== undefined ? { accessToken: options.accessToken } : {}),
    ...(options.jkt !== undefined ? { jkt: options.jkt } : {}),
    ...(options.nonces ? { nonce: options.nonces } : {}),
  });
}

/**
 * A resource server: `Authorization: DPoP <token>` + a proof with `ath`, nonce required when a
 * source is given. Answers 200 with the verified claims as JSON, or the §7.1 / §9 401.
 */
export async function startResourceServer(options: { nonces?: NonceSource; token?: string } = {}): Promise<TestServer & { proofs: VerifiedProof[] }> {
  const replay = createMemoryReplayCache();
  const proofs: VerifiedProof[] = [];
  const server = await startServer(async (req) => {
    const nonceHeader: Record<string, string> = options.nonces ? { 'dpop-nonce': await options.nonces.current() } : {};
    const auth = req.headers.authorization ?? '';
    const token = /^DPoP (.+)$/.exec(auth)?.[1];
    if (token === undefined || (options.token !== undefined && token !== options.token)) {
      return { status: 401, headers: { ...nonceHeader, 'www-authenticate': formatChallenge('DPoP', { error: 'invalid_token', algs: 'ES256' }) } };
    }
    try {
      const proof = await checkProof(req, { accessToken: token, replay, ...(options.nonces ? { nonces: options.nonces } : {}) });
      proofs.push(proof);
      return { status: 200, headers: { ...nonceHeader, 'content-type': 'application/json' }, body: JSON.stringify({ claims: proof.claims, jkt: proof.jkt, body: req.body }) };
    } catch (err) {
      if (!(err instanceof DPoPError)) throw err;
      return { status: 401, headers: { ...nonceHeader, 'www-authenticate': formatChallenge('DPoP', { error: err.error, error_description: err.message, algs: 'ES256' }) } };
    }
  });
  return Object.assign(server, { proofs });
}
