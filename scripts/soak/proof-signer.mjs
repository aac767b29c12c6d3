// The soak's client, in a worker thread so that signing never delays the thread that sends
// requests and times them. It holds the key pair, keeps an access token bound to it (renewed at
// half its lifetime, as a real client renews), and answers `{ api: n, token: m }` with n fresh
// API proofs (each carrying the `ath` of the token it goes with, RFC 9449 §4.2) and m token
// endpoint proofs.
import { parentPort, workerData } from 'node:worker_threads';

const { dist, tokenUrl, apiUrl, authorization, tokenBody } = workerData;
const { createProof, generateKeyPair } = await import(dist);
const keyPair = await generateKeyPair('ES256');

async function issue() {
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization, dpop: await createProof(keyPair, { htm: 'POST', htu: tokenUrl }) },
    body: tokenBody,
  });
  if (response.status !== 200) throw new Error(`token: ${response.status} ${await response.text()}`);
  const body = await response.json();
  return { accessToken: body.access_token, expiresIn: body.expires_in };
}

let { accessToken, expiresIn } = await issue();
const renewal = setInterval(() => {
  issue().then((t) => { accessToken = t.accessToken; }, (err) => parentPort.postMessage({ error: `token renewal failed: ${err.message}` }));
}, (expiresIn * 1000) / 2);

parentPort.on('message', async (message) => {
  if (message === 'stop') {
    clearInterval(renewal);
    parentPort.close();
    return;
  }
  const api = [];
  const token = [];
  for (let i = 0; i < message.api; i++) {
    const current = accessToken;
    api.push({ proof: await createProof(keyPair, { htm: 'GET', htu: apiUrl, accessToken: current }), accessToken: current });
  }
  for (let i = 0; i < message.token; i++) token.push({ proof: await createProof(keyPair, { htm: 'POST', htu: tokenUrl }) });
  parentPort.postMessage({ api, token });
});
parentPort.postMessage({ ready: true });
