/**
 * Request ids for `dpopkit serve`: every request gets one (a sane incoming `X-Request-Id`, set
 * by a proxy or the caller, else a fresh one), it is echoed in the response, and every log line
 * written while the request is handled carries it as `reqId`, on the authorization server and
 * the API alike. One access line per request (`request done`: method, path, status, ms) ends
 * it. Nothing from the request is logged but its method, its path (never the query, which may
 * carry a code or a state) and the id.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../core/logger.js';

const current = new AsyncLocalStorage<string>();

/** Accepted incoming ids: short, printable, no spaces or quotes (nothing to inject into a log). */
const SANE = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function requestIdOf(incoming: string | string[] | null | undefined): string {
  const value = Array.isArray(incoming) ? incoming[0] : incoming;
  return value && SANE.test(value) ? value : randomUUID();
}

/** The id of the request being handled, if any. */
export function currentRequestId(): string | undefined {
  return current.getStore();
}

/** A logger that adds `reqId` to every entry written while a request is handled. */
export function withRequestId<L extends Logger>(logger: L): Logger {
  const add = (obj: object): object => {
    const reqId = current.getStore();
    return reqId === undefined ? obj : { reqId, ...obj };
  };
  return {
    debug: (obj, msg) => logger.debug(add(obj), msg),
    info: (obj, msg) => logger.info(add(obj), msg),
    warn: (obj, msg) => logger.warn(add(obj), msg),
    error: (obj, msg) => logger.error(add(obj), msg),
  };
}

/** The path without its query: codes, states and request_uris never reach the log. */
function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?')[0]!.slice(0, 256);
}

/** node:http: id in, id out, handler run in the id's context, one access line. */
export function nodeWithRequestId(logger: Logger, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  return (request: IncomingMessage, response: ServerResponse) => {
    const reqId = requestIdOf(request.headers['x-request-id']);
    const started = process.hrtime.bigint();
    response.setHeader('X-Request-Id', reqId);
    response.once('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info({ reqId, method: request.method, path: pathOf(request.url), status: response.statusCode, ms: Math.round(ms * 10) / 10 }, 'request done');
    });
    current.run(reqId, () => handler(request, response));
  };
}

/** A Web fetch handler: the same, the id set on the Response. */
export function fetchWithRequestId(logger: Logger, fetch: (request: Request) => Response | Promise<Response>) {
  return async (request: Request): Promise<Response> => {
    const reqId = requestIdOf(request.headers.get('x-request-id'));
    const started = process.hrtime.bigint();
    let response = await current.run(reqId, () => fetch(request));
    try {
      response.headers.set('X-Request-Id', reqId);
    } catch {
      // Immutable headers (a Response from fetch()): copy it.
      response = new Response(response.body, response);
      response.headers.set('X-Request-Id', reqId);
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    logger.info({ reqId, method: request.method, path: pathOf(new URL(request.url).pathname), status: response.status, ms: Math.round(ms * 10) / 10 }, 'request done');
    return response;
  };
}
