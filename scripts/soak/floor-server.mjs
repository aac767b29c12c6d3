// The soak's floor: two node:cluster workers that check nothing, spend SPIN_US microseconds of
// CPU on each request in one synchronous stretch (the fleet's measured CPU time per request, so
// the machine is as busy as in the soak) and answer with a fixed JSON body. Loaded by the same
// generator at the same rate, it shows what latency this host, its scheduler and the generator
// give to a server with the same CPU demand and no I/O of its own, so the soak's tail can be read
// against it. `node floor-server.mjs PORT SPIN_US`; prints "listening" once both workers are.
import cluster from 'node:cluster';
import http from 'node:http';

const port = Number(process.argv[2]);
const spinMs = Number(process.argv[3] ?? 0) / 1000;
if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < 2; i++) cluster.fork().on('listening', () => ++listening === 2 && console.log('listening'));
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); });
} else {
  const body = JSON.stringify({ message: 'Hello from a DPoP-protected API', sub: 'demo-service' });
  http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const until = performance.now() + spinMs;
      while (performance.now() < until);
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  }).listen(port, '127.0.0.1');
}
