/**
 * The conversion the node:http and Express adapters share: `IncomingMessage` to `Request` (its
 * body a stream read from the socket on demand, at most {@link MAX_FORM_BYTES}), the client
 * address to `as.fetch`'s `remoteAddress`, and the `Response` written back (headers as given,
 * several `Set-Cookie` kept apart; no body for HEAD). Every status, including 404, 405 and 413,
 * is the authorization server's own answer.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorResponse, OAuthError } from '../errors.js';
import { MAX_FORM_BYTES } from '../form.js';
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

/**
 * The request body as a web stream that reads the socket only when pulled (so an unread body
 * is left to Node, which discards it after the answer) and errors with 413 past `max` bytes.
 */
function bodyStream(req: IncomingMessage, max = MAX_FORM_BYTES): ReadableStream<Uint8Array> {
  let total = 0;
  let attached = false;
  let done = false;
  const detach = () => {
    done = true;
    req.removeListener('data', onData).removeListener('end', onEnd).removeListener('error', onError).removeListener('close', onClose);
    req.resume(); // the rest is discarded
  };
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  function onData(chunk: Buffer): void {
    total += chunk.byteLength;
    if (total > max) {
      detach();
      controller.error(new OAuthError('invalid_request', 'body_too_large', `the request body is larger than ${max} bytes`, { status: 413 }));
      return;
    }
    controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if ((controller.desiredSize ?? 0) <= 0) req.pause();
  }
  function onEnd(): void {
    if (done) return;
    done = true;
    req.removeListener('data', onData).removeListener('end', onEnd).removeListener('error', onError).removeListener('close', onClose);
    controller.close();
  }
  function onError(err: unknown): void {
    if (done) return;
    detach();
    controller.error(err);
  }
  /** The connection closed before the body ended (the client went away): never wait forever. */
  function onClose(): void {
    if (done) return; // (every request closes: no Error, no stack trace, unless it matters)
    onError(new Error('the request body was cut short'));
  }
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        if (!attached) {
          attached = true;
          req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
        }
        req.resume();
      },
      cancel() {
        if (!done) detach();
      },
    },
    { highWaterMark: 0 }, // read nothing before someone asks
  );
}

/**
 * The `Request` for `req`. `body` replaces the socket's body (the Express adapter passes one a
 * body parser already read). The origin is the issuer's: routing uses the path only, and the
 * authorization server never trusts `Host`.
 */
export function toRequest(origin: string, req: NodeRequest, body?: Uint8Array): Request {
  // Pairs, not Headers.append one by one (a third cheaper); repeated fields are joined the same way.
  const headers: [string, string][] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* ':' HTTP/2 pseudo-header */) continue;
    if (body && /^(?:content-length|transfer-encoding)$/i.test(name)) continue; // framing of the body replaced
    headers.push([name, raw[i + 1]!]);
  }
  const method = req.method ?? 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers };
  if (method !== 'GET' && method !== 'HEAD') {
    if (body) {
      headers.push(['content-length', String(body.byteLength)]);
      init.body = body as Uint8Array<ArrayBuffer>;
    } else {
      init.body = bodyStream(req);
      init.duplex = 'half';
    }
  }
  return new Request(origin + targetOf(req), init);
}

/** Write a `Response` to `res` (buffered: the server's answers are small). */
export async function sendResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  const cookies: string[] = [];
  response.headers.forEach((value, name) => {
    // Iteration yields each Set-Cookie on its own; every other repeated field comes joined.
    if (name === 'set-cookie') cookies.push(value);
    else headers[name] = value;
  });
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const body = response.body ? await readAll(response.body) : undefined;
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

/** Answer `req` through `as.fetch`; a request that cannot be converted is refused (400). */
export async function handle(s: Served, req: NodeRequest, res: ServerResponse, body?: Uint8Array): Promise<void> {
  let request: Request;
  try {
    request = toRequest(s.origin, req, body);
  } catch {
    await sendResponse(res, errorResponse(new OAuthError('invalid_request', 'body_unreadable', 'the request could not be read')));
    return;
  }
  await sendResponse(res, await s.as.fetch(request, { remoteAddress: s.remoteAddress(req) }));
}

/** After a failure to answer: a 500 if nothing was sent yet, else the connection is cut. */
export function fail(res: ServerResponse, err: unknown): void {
  if (res.headersSent) res.destroy();
  else sendResponse(res, errorResponse(err)).catch(() => res.destroy());
}

