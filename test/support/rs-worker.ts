/**
 * A resource-server process for the multi-process replay test: a real node:http server using
 * dpopkit's resource server with the Redis replay cache. Bundled with esbuild by the test (from
 * the TypeScript sources) and forked; configuration comes in RS_WORKER_CONFIG, the port goes
 * back over IPC. Answers 200 with the subject, or the resource server's refusal (with its
 * `reason` echoed in an `X-Reason` header so the test can count replays).
 */
import http from 'node:http';
import { createResourceServer } from '../../src/resource-server/index.js';
import { sendRejection } from '../../src/resource-server/adapters/node.js';
import { toRequestLike } from '../../src/resource-server/adapters/node.js';
import { createRedisReplayCache } from '../../src/stores/redis.js';

interface WorkerConfig {
  issuer: string;
  audience: string;
  jwksUri: string;
  publicUrl: string;
  redisUrl: string;
  keyPrefix: string;
}

const cfg = JSON.parse(process.env.RS_WORKER_CONFIG ?? '{}') as WorkerConfig;
// The test is about atomic acceptance across processes, not about timeouts: a generous command
// timeout keeps a busy machine from turning a slow answer into a 503.
const replayCache = createRedisReplayCache({ url: cfg.redisUrl, keyPrefix: cfg.keyPrefix, commandTimeoutMs: 5_000 });
const rs = createResourceServer({
  issuer: cfg.issuer,
  audience: cfg.audience,
  jwksUri: cfg.jwksUri,
  publicUrl: cfg.publicUrl,
  bearer: 'reject',
  replayCache,
});

const server = http.createServer(async (req, res) => {
  const result = await rs.verify(toRequestLike(req));
  if (!result.ok) {
    res.setHeader('X-Reason', result.reason);
    sendRejection(res, result);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'X-Worker': String(process.pid) });
  res.end(JSON.stringify({ subject: result.principal.subject }));
});
server.keepAliveTimeout = 1000;

server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});

process.on('message', (message) => {
  if (message === 'stop') {
    server.close();
    server.closeAllConnections();
    void replayCache.close().finally(() => process.exit(0));
  }
});
