/**
 * The conversion the node:http and Express adapters share: `IncomingMessage` to the request the
 * server reads (`AsRequest`: headers from `rawHeaders`, the body read from the socket on demand,
 * at most what the endpoint allows), the client
 * address to `remoteAddress`, and the server's answer (`AsResponse`, before `as.fetch` would make
 * it a web `Response`) written back (headers as given, several `Set-Cookie` kept apart; no body
 * for HEAD). Every status, including 404, 405 and 413,
 * is the authorization server's own answer.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorResponse, OAuthError } from '../errors.js';
import type { AsRequest, AsRequestHeaders } from '../as-request.js';
import { answerDirectly, AsResponse } from '../as-response.js';
import type { ConnectionInfo } from '../client-address.js';
import { bodyTooLarge } from '../form.js';
import type { AuthorizationServer } from '../options.js';

export interface NodeHandlerOptions {
  /**
   * The client address passed to the server for throttling. Default: the socket's
   * `remoteAddress`. Behind a reverse proxy prefer `throttle.trustProxy`, which believes the
   * proxy's header only from the proxy's addresses.
   */
  remoteAddress?: (req: IncomingMessage) => string | undefined;
}

/** A node:http request, with Express's `originalUrl` when mounted under a path. */
export type NodeRequest = IncomingMessage & { originalUrl?: string };

/** The path of the request target, without its query (what `as.handles` takes). */
export function pathnameOf(req: NodeRequest): string {
  const target = targetOf(req);
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** The path and query of the request target (origin-form, or absolute-form from a proxy). */
function targetOf(req: NodeRequest): string {
  const target = req.originalUrl ?? req.url ?? '/';
  if (target.startsWith('/')) return target;
  try {
    const url = new URL(target);
    return url.pathname + url.search;
  } catch {
    return '/'; // `*` (OPTIONS *) and the like: no route of ours
  }
}

/** Header lookups over `rawHeaders`, as `Headers` answers them (names case-insensitive, repeats joined with ", "). */
class RawHeaders implements AsRequestHeaders {
  readonly #fields = new Map<string, string>();
  constructor(raw: readonly string[], bodyReplaced: boolean) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (name.charCodeAt(0) === 58 /* ':' HTTP/2 pseudo-header */) continue;
      if (bodyReplaced && (name === 'content-length' || name === 'transfer-encoding')) continue; // framing of the body replaced
      const seen = this.#fields.get(name);
      this.#fields.set(name, seen === undefined ? raw[i + 1]! : `${seen}, ${raw[i + 1]!}`);
    }
  }
  get(name: string): string | null {
    return this.#fields.get(name.toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.#fields.has(name.toLowerCase());
  }
  set(name: string, value: string): void {
    this.#fields.set(name, value);
  }
}

/**
 * The body of `req`, read only when asked (an unread body is left to Node, which discards it
 * after the answer), at most `max` bytes: past it 413, and the rest is discarded.
 */
function readNodeBody(req: IncomingMessage, max: number): Promise<Uint8Array> {
  if (req.readableEnded) return Promise.resolve(new Uint8Array(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (err: unknown, bytes?: Uint8Array): void => {
      req.removeListener('data', onData).removeListener('end', onEnd).removeListener('error', onError).removeListener('close', onClose);
      if (err === undefined) resolve(bytes!);
      else {
        req.resume(); // the rest is discarded
        reject(err);
      }
    };
    function onData(chunk: Buffer): void {
      total += chunk.byteLength;
      if (total > max) finish(bodyTooLarge(max));
      else chunks.push(chunk);
    }
    function onEnd(): void {
      finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    }
    function onError(err: unknown): void {
      finish(err ?? new Error('the request body could not be read'));
    }
    /** The connection closed before the body ended (the client went away): never wait forever. */
    function onClose(): void {
      finish(new Error('the request body was cut short'));
    }
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/**
 * What the server reads of `req` (see as-request.ts): no undici `Request`, `Headers` or body
 * stream. `body` replaces the socket's body (the Express adapter passes one a body parser
 * already read). The origin is the issuer's: routing uses the path only, and the authorization
 * server never trusts `Host`.
 *
 * @throws TypeError when the target cannot make a URL (answered 400).
 */
export function toAsRequest(origin: string, req: NodeRequest, body?: Uint8Array): AsRequest {
  const url = origin + targetOf(req);
  if (!URL.canParse(url)) throw new TypeError('the request target is not a URL');
  const headers = new RawHeaders(req.rawHeaders, body !== undefined);
  if (body) headers.set('content-length', String(body.byteLength));
  const readBody = body
    ? async (max: number) => {
        if (body.byteLength > max) throw bodyTooLarge(max);
        return body;
      }
    : (max: number) => readNodeBody(req, max);
  return { method: req.method ?? 'GET', url, headers, body: null, readBody };
}

/**
 * Write an answer to `res`: the server's own {@link AsResponse} as it is, or a web `Response`
 * (from a server object that only has `fetch`), buffered: the server's answers are small.
 */
export async function sendResponse(res: ServerResponse, response: AsResponse | Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  const cookies: string[] = [];
  response.headers.forEach((value, name) => {
    // Each Set-Cookie comes on its own; every other repeated field comes joined.
    if (name === 'set-cookie') cookies.push(value);
    else headers[name] = value;
  });
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const body = await bodyBytes(response);
  if (body && headers['content-length'] === undefined) headers['content-length'] = String(body.byteLength);
  res.writeHead(response.status, headers);
  res.end(body); // node:http sends no body for HEAD
}

/** A body's bytes (a reader loop: about half the cost of `arrayBuffer()` on Node 20). */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** What {@link handle} needs: the server, its origin, how to find the client address. */
export interface Served {
  as: AuthorizationServer;
  origin: string;
  remoteAddress(req: IncomingMessage): string | undefined;
}

export function served(as: AuthorizationServer, options: NodeHandlerOptions): Served {
  return { as, origin: new URL(as.issuer).origin, remoteAddress: options.remoteAddress ?? ((req) => req.socket?.remoteAddress) };
}

/**
 * Answer `req` with the server's answer taken before it becomes a web `Response` (`as.fetch` for
 * a server object that has only that); a request that cannot be converted is refused (400).
 */
export async function handle(s: Served, req: NodeRequest, res: ServerResponse, body?: Uint8Array): Promise<void> {
  let request: AsRequest;
  try {
    request = toAsRequest(s.origin, req, body);
  } catch {
    await sendResponse(res, errorResponse(new OAuthError('invalid_request', 'body_unreadable', 'the request could not be read')));
    return;
  }
  const info = { remoteAddress: s.remoteAddress(req) };
  const direct = (s.as as { [answerDirectly]?: (request: AsRequest, info: ConnectionInfo) => Promise<AsResponse> })[answerDirectly];
  await sendResponse(res, direct ? await direct(request, info) : await s.as.fetch(request, info));
}

/** The whole body, or undefined for none. */
async function bodyBytes(response: AsResponse | Response): Promise<Uint8Array | undefined> {
  if (response instanceof AsResponse) return response.body === null ? undefined : Buffer.from(response.body, 'utf8');
  return response.body ? readAll(response.body) : undefined;
}

/** After a failure to answer: a 500 if nothing was sent yet, else the connection is cut. */
export function fail(res: ServerResponse, err: unknown): void {
  if (res.headersSent) res.destroy();
  else sendResponse(res, errorResponse(err)).catch(() => res.destroy());
}

