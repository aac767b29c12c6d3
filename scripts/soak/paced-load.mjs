// An open-loop load at a fixed rate, for the soak. Requests leave at evenly spaced moments
// whether or not earlier ones have been answered, as requests from many independent clients do.
//
// Written by hand because the load tools at hand do not pace this way: autocannon's
// `overallRate` lets each connection send its share of a second back to back and then wait for
// the next second, so the server runs flat out for most of every second (a burst, then idle),
// and its latency is that of a saturated server; it also "corrects" every response for
// coordinated omission with an expected interval of 1 ms (`Math.ceil(1 / rate)`, a rate per
// second taken as per millisecond), which adds one synthetic sample per millisecond of each
// response. wrk has no rate at all.
//
// Latency is measured two ways:
// - `service`: from the moment the request is handed to the socket to its last byte;
// - `intended`: from the moment the schedule said it should leave (Gil Tene's
//   coordinated-omission-free measure: a generator that falls behind cannot hide the delay).
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** p-th percentile (0–100) of sorted milliseconds. */
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
const round = (ms) => Math.round(ms * 100) / 100;

function summarise(samples, count) {
  const sorted = samples.subarray(0, count).sort();
  return { p50: round(percentile(sorted, 50)), p90: round(percentile(sorted, 90)), p99: round(percentile(sorted, 99)), p999: round(percentile(sorted, 99.9)), max: round(sorted[count - 1] ?? NaN) };
}

/**
 * Send `rate` requests per second for `seconds`. `next(i)` gives the i-th request:
 * `{ kind, port, method, path, headers, body }`; `kind` names the series it is counted in.
 * Resolves with, per kind: requests, status codes, errors (non-2xx or no answer), the first
 * few refusals (status and WWW-Authenticate or body, to tell why) and latency percentiles.
 */
export async function pacedLoad({ rate, seconds, next, host = '127.0.0.1', maxSockets = 256 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const total = Math.floor(rate * seconds);
  const kinds = new Map();
  const kindOf = (name) => {
    let k = kinds.get(name);
    if (!k) {
      k = { requests: 0, answered: 0, errors: 0, statusCodes: {}, refusals: [], service: new Float64Array(total), intended: new Float64Array(total) };
      kinds.set(name, k);
    }
    return k;
  };
  let sent = 0;
  let done = 0;
  let behindMs = 0; // the furthest the generator fell behind its schedule
  const start = performance.now();
  const interval = 1000 / rate;

  const finished = new Promise((resolve) => {
    const send = (i, due) => {
      const request = next(i);
      const k = kindOf(request.kind);
      k.requests++;
      const leaving = performance.now();
      behindMs = Math.max(behindMs, leaving - due);
      const settle = (status, why) => {
        const now = performance.now();
        k.service[k.answered] = now - leaving;
        k.intended[k.answered] = now - due;
        k.answered++;
        k.statusCodes[status] = (k.statusCodes[status] ?? 0) + 1;
        if (!(status >= 200 && status < 300)) {
          k.errors++;
          if (k.refusals.length < 5) k.refusals.push({ status, why });
        }
        if (++done === total) resolve();
      };
      const req = http.request({ host, port: request.port, method: request.method, path: request.path, headers: request.headers, agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => settle(res.statusCode, res.statusCode >= 300 ? String(res.headers['www-authenticate'] ?? Buffer.concat(chunks).toString('utf8').slice(0, 200)) : undefined));
        res.on('error', (err) => settle('error', err.message));
      });
      req.on('error', (err) => settle('error', err.message));
      req.end(request.body);
    };
    // Every millisecond (or as soon after as the event loop allows), send what is due by now.
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      while (sent < due) {
        send(sent, start + sent * interval);
        sent++;
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  await finished;
  agent.destroy();
  const elapsed = (performance.now() - start) / 1000;
  const result = { seconds: round(elapsed), requestsPerSecond: Math.round(total / elapsed), generatorBehindMs: round(behindMs), kinds: {} };
  for (const [name, k] of kinds) {
    result.kinds[name] = { requests: k.requests, errors: k.errors, statusCodes: k.statusCodes, refusals: k.refusals, latencyMs: { service: summarise(k.service, k.answered), intended: summarise(k.intended, k.answered) } };
  }
  return result;
}
