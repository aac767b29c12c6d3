/**
 * Test support: real HTTP servers on port 0 that protect routes through each adapter, and a raw
 * client (node:http) that can send repeated headers and forged Host values, which fetch cannot.
 */
import { request as httpRequest, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createProof, generateKeyPair, keyThumbprint, type DPoPKeyPair } from '../../../src/index.js';
import type { ResourceServer } from '../../../src/resource-server/index.js';
import { dpopHono } from '../../../src/resource-server/adapters/hono.js';
import { dpopNode } from '../../../src/resource-server/adapters/node.js';

export interface Running {
  base: string;
  port: number;
  close(): Promise<void>;
}

function closer(server: Server): () => Promise<void> {
  return () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
}

/** node:http: `/resource` (and anything under it) protected, `/public` not. */
export async function startNodeApi(rs: ResourceServer, options: { scopes?: string[] } = {}): Promise<Running> {
  const guard = dpopNode(rs, options);
  const server = createServer((req, res) => {
    if (req.url === '/public') return void res.end('ok');
    void guard(req, res, () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.dpop));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, port, close: closer(server) };
}

/** Hono on @hono/node-server, same routes. */
export async function startHonoApi(rs: ResourceServer, options: { scopes?: string[] } = {}): Promise<Running> {
  const app = new Hono<{ Variables: { dpop: import('../../../src/resource-server/index.js').Principal } }>();
  app.get('/public', (c) => c.text('ok'));
  app.use('*', dpopHono(rs, options));
  app.all('*', (c) => c.json(c.get('dpop')));
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, port, close: closer(server) };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

/** Send a request with headers exactly as given (repeats and all). */
export function raw(base: string, path: string, method: string, headers: Array<[string, string]>): Promise<RawResponse> {
  const url = new URL(base);
  const flat = headers.flat();
  if (!headers.some(([k]) => k.toLowerCase() === 'host')) flat.push('Host', url.host);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method, headers: flat, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface CallOptions {
  method?: string;
  /** Authorization scheme (default DPoP). */
  scheme?: string;
  /** Key that signs the proof; `null` sends no proof. */
  key?: DPoPKeyPair | null;
  /** Override the proof's htu (default: base + path). */
  htu?: string;
  nonce?: string;
  /** Override the access token hashed into ath. */
  athToken?: string;
  /** Use this exact proof. */
  proof?: string;
  headers?: Array<[string, string]>;
}

/** A DPoP (or Bearer) request to `base + path` with a fresh proof. */
export async function call(base: string, path: string, token: string | null, options: CallOptions = {}): Promise<RawResponse & { proof?: string }> {
  const method = options.method ?? 'GET';
  const headers: Array<[string, string]> = [];
  if (token !== null) headers.push(['Authorization', `${options.scheme ?? 'DPoP'} ${token}`]);
  let proof = options.proof;
  if (proof === undefined && options.key) {
    proof = await createProof(options.key, {
      htm: method, htu: options.htu ?? `${base}${path}`,
      ...(token !== null || options.athToken ? { accessToken: options.athToken ?? token! } : {}),
      ...(options.nonce ? { nonce: options.nonce } : {}),
    });
  }
  if (proof !== undefined) headers.push(['DPoP', proof]);
  headers.push(...(options.headers ?? []));
  const res = await raw(base, path, method, headers);
  return Object.assign(res, proof !== undefined ? { proof } : {});
}

export async function newKey(): Promise<DPoPKeyPair & { jkt: string }> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  return Object.assign(pair, { jkt: await keyThumbprint(pair) });
}
