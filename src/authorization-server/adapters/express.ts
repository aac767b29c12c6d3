/**
 * Express adapter: `app.use(toExpressHandler(as))`, at the root or under a mount path. Requests
 * for the authorization server's paths (its endpoints under the issuer's path, the well-known
 * metadata URLs; matched on `req.originalUrl`, so the issuer's path must be the public path)
 * are answered by the server; every other request goes on to `next()`.
 *
 * Body parsers: mount this before `express.urlencoded()` and the body is streamed from the
 * socket as on node:http. If a parser ran first and read the body, the form is rebuilt from
 * `req.body` (an object of strings, arrays and nested objects from `qs`, a string from
 * `express.text()`, a Buffer from `express.raw()`): repeated parameters stay repeated, so the
 * server still refuses them (RFC 6749 §3.1), and the 64 KiB limit applies to the rebuilt form.
 * A JSON body (`express.json()`, for `/register`) is rebuilt from `req.body` too; a body of another
 * content type is not needed (the server refuses it on its type). A form
 * body read by something that left no usable `req.body` cannot be rebuilt: the request goes to
 * `next(err)` with an error that says so, a configuration error rather than a client's.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthorizationServer } from '../options.js';
import { fail, handle, pathnameOf, served, type NodeHandlerOptions, type NodeRequest } from './node-http.js';

export type ExpressHandlerOptions = NodeHandlerOptions;

/** The parts of Express's request this adapter reads (no import of express itself). */
type ExpressRequest = NodeRequest & { body?: unknown; _body?: boolean };

/** Whether an earlier middleware consumed the body (body-parser's own test, plus its 1.x flag). */
function bodyWasRead(req: ExpressRequest): boolean {
  return req._body === true || req.readableEnded || (req.complete && !req.readable);
}

const isForm = (req: IncomingMessage) =>
  req.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded';

/** RFC 7591 registration requests are JSON: `express.json()` leaves the parsed value in `req.body`. */
const isJson = (req: IncomingMessage) =>
  req.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase() === 'application/json';

/** Parameters of a parsed body, written back as a form: `a[b]` for nested objects, arrays repeated. */
function appendParam(params: URLSearchParams, name: string, value: unknown): void {
  if (Array.isArray(value)) for (const v of value) appendParam(params, name, v);
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) appendParam(params, `${name}[${k}]`, v);
  else if (value !== undefined) params.append(name, value === null ? '' : String(value));
}

/** The body to send instead of the socket's, when a parser already read it; undefined to stream it. */
export function readBodyAgain(req: ExpressRequest): Uint8Array | undefined {
  if (req.method === 'GET' || req.method === 'HEAD' || !bodyWasRead(req)) return undefined;
  const body = req.body;
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  if (isJson(req) && body !== undefined && typeof body === 'object') return new TextEncoder().encode(JSON.stringify(body));
  if (!isForm(req)) return new Uint8Array(0);
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(body)) appendParam(params, name, value);
    return new TextEncoder().encode(params.toString());
  }
  throw new Error(
    'dpopkit authorization server: an earlier middleware read the form body and left no req.body to rebuild it from; ' +
      'mount toExpressHandler(as) before it (or after express.urlencoded())',
  );
}

/**
 * @example
 * ```ts
 * const app = express();
 * app.use(toExpressHandler(as));        // issuer https://example.com
 * app.use('/oauth', toExpressHandler(as)); // or: issuer https://example.com/oauth
 * ```
 */
export function toExpressHandler(as: AuthorizationServer, options: ExpressHandlerOptions = {}) {
  const s = served(as, options);
  return function authorizationServer(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    if (!as.handles(pathnameOf(req))) {
      next();
      return;
    }
    let body: Uint8Array | undefined;
    try {
      body = readBodyAgain(req);
    } catch (err) {
      next(err);
      return;
    }
    handle(s, req, res, body).catch((err: unknown) => fail(res, err));
  };
}
