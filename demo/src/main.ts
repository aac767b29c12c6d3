/**
 * The dpopkit browser demo: a public client (single-page app) that signs in with authorization
 * code + PKCE + DPoP, calls a DPoP-protected API, and shows that a leaked token is useless
 * without the browser's non-extractable key. Everything DPoP comes from `dpopkit/client`; this
 * file only wires it to the page.
 *
 * @module
 */
import {
  createDPoPClient,
  createPkce,
  discover,
  exchangeCode,
  authorizationUrl,
  pushAuthorizationRequest,
  indexedDbKeyStore,
  randomState,
  type DPoPClient,
  type KeyStore,
  type TokenResponse,
  OAuthResponseError,
} from '../../src/client/index.js';
import { loadConfig, type DemoConfig } from './config.js';
import { decodeJws } from './decode.js';
import { savePending, takePending, type PushedProof } from './session.js';
import { asBearer, withOtherKey, type Attempt } from './steal.js';
import { appendAnswer, appendProof, byId, challengeLines, refreshTimes, reveal, setStatus, showJson, showLines, type SentProof } from './view.js';

/** Where each proof the client sends is shown (set per step). */
let proofList: HTMLElement | null = null;
/** Proofs sent just before leaving the page (PAR), kept to be shown after the trip. */
let captured: PushedProof[] | null = null;
let accessToken: string | null = null;

function onProof(sent: SentProof): void {
  if (proofList) appendProof(proofList, sent);
  captured?.push({ ...sent });
}

/**
 * The client's transport: the browser's fetch, plus a note of each answer under the proof it
 * answered, so the page can show the `use_dpop_nonce` refusal that the client's retry follows.
 * (Through the client's own `fetch` option: the client still does all the DPoP work.)
 */
async function observedFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const list = proofList;
  const response = await globalThis.fetch(input, init);
  const answer = { status: response.status, challenge: response.headers.get('www-authenticate'), nonce: response.headers.get('dpop-nonce') };
  if (list) appendAnswer(list, answer);
  const last = captured?.at(-1);
  if (last) Object.assign(last, answer);
  return response;
}

function fatal(message: string): void {
  const box = byId('fatal');
  box.textContent = message;
  reveal(box);
}

async function showKey(client: DPoPClient, keyStore: KeyStore): Promise<string> {
  const jkt = await client.thumbprint();
  byId('key-jkt').textContent = jkt;
  showJson(byId('key-jwk'), await client.publicJwk());
  const stored = await keyStore.load();
  const privateKey = stored?.privateKey as CryptoKey | undefined;
  byId('key-extractable').textContent = privateKey
    ? `CryptoKey, extractable: ${String(privateKey.extractable)}` +
      (privateKey.extractable ? ' (script could export it!)' : ' (usable for signing, never readable)')
    : 'not yet stored';
  byId('key-origin').textContent = `IndexedDB of ${location.origin}`;
  return jkt;
}

async function signIn(config: DemoConfig, client: DPoPClient): Promise<void> {
  const status = byId('signin-status');
  setStatus(status, 'Discovering the authorization server…');
  const metadata = await discover(config.issuer);
  const pkce = await createPkce();
  const state = randomState();
  const request = {
    clientId: config.clientId,
    redirectUri: config.redirectUri,
    scope: config.scope,
    state,
    codeChallenge: pkce.codeChallenge,
  };
  let url: URL;
  let pushed: PushedProof[] | undefined;
  if (byId<HTMLInputElement>('use-par').checked) {
    // RFC 9126 + RFC 9449 §10.1: the parameters go to the PAR endpoint with a DPoP proof, which
    // binds the code to this key (dpop_jkt defaults to it); the URL carries only request_uri.
    setStatus(status, 'Pushing the authorization request (PAR) with a DPoP proof…');
    captured = [];
    try {
      url = await pushAuthorizationRequest(client, metadata, request);
      pushed = captured;
    } finally {
      captured = null;
    }
  } else {
    // RFC 9449 §10: dpop_jkt binds the authorization code to this key before the code exists.
    url = authorizationUrl(metadata, { ...request, dpopJkt: await client.thumbprint() });
  }
  savePending({ state, codeVerifier: pkce.codeVerifier, issuer: metadata.issuer, ...(pushed ? { pushed } : {}) });
  setStatus(status, `Going to ${url.origin}…`);
  location.assign(url.toString());
}

async function handleCallback(config: DemoConfig, client: DPoPClient, jkt: string): Promise<void> {
  const params = new URLSearchParams(location.search);
  const status = byId('signin-status');
  // The code must not stay in the address bar or history.
  history.replaceState(null, '', '/');
  const pending = takePending();
  if (params.get('error')) {
    setStatus(status, `The authorization server said ${params.get('error')}: ${params.get('error_description') ?? ''}`, 'bad');
    return;
  }
  const code = params.get('code');
  if (!code || !pending) {
    setStatus(status, 'This callback has no pending sign-in (reloaded, or opened in another tab). Sign in again.', 'bad');
    return;
  }
  // RFC 6749 §10.12: state ties the answer to the request this tab made.
  if (params.get('state') !== pending.state) {
    setStatus(status, 'The state in the callback does not match the request: refused (possible CSRF).', 'bad');
    return;
  }
  // RFC 9207 §2.4: the answer must come from the issuer the request went to (mix-up defence).
  const metadata = await discover(config.issuer);
  const iss = params.get('iss');
  if (iss === null && metadata.authorization_response_iss_parameter_supported === true) {
    setStatus(status, 'The callback lacks iss although the server promises it (RFC 9207 §2.4): refused.', 'bad');
    return;
  }
  if (iss !== null && iss !== pending.issuer) {
    setStatus(status, `The callback's iss (${iss}) is not the issuer the request went to: refused.`, 'bad');
    return;
  }
  setStatus(status, 'Redeeming the code with a DPoP proof…');
  const section = byId('step-token');
  reveal(section);
  if (pending.pushed?.length) {
    const parList = byId('par-proofs');
    parList.replaceChildren();
    for (const sent of pending.pushed) {
      appendProof(parList, sent);
      if (sent.status !== undefined) appendAnswer(parList, { status: sent.status, challenge: sent.challenge ?? null, nonce: sent.nonce ?? null });
    }
    reveal(byId('par-block'));
  }
  proofList = byId('token-proofs');
  proofList.replaceChildren();
  let tokens: TokenResponse;
  try {
    tokens = await exchangeCode(client, metadata, {
      clientId: config.clientId,
      code,
      redirectUri: config.redirectUri,
      codeVerifier: pending.codeVerifier,
      ...(iss !== null ? { iss } : {}),
    });
  } catch (cause) {
    // OAuthResponseError: the server's RFC 6749 §5.2 error (invalid_grant, invalid_dpop_proof, …) or the
    // client's own refusal (token_type_mismatch, invalid_issuer, network_error).
    const detail = cause instanceof OAuthResponseError ? `${cause.status ? `${cause.status} ` : ''}${cause.message}` : (cause as Error).message;
    setStatus(status, `The code exchange failed: ${detail}`, 'bad');
    return;
  } finally {
    proofList = null;
  }
  accessToken = tokens.access_token;
  showJson(byId('token-response'), {
    ...tokens,
    access_token: `${tokens.access_token.slice(0, 24)}…`,
    ...(tokens.refresh_token ? { refresh_token: '(hidden)' } : {}),
    ...(tokens.id_token ? { id_token: '(hidden)' } : {}),
  }, 'token_type');
  const decoded = decodeJws(tokens.access_token);
  const cnf = decoded?.claims.cnf as { jkt?: unknown } | undefined;
  showJson(byId('token-claims'), decoded?.claims ?? '(opaque token: the API introspects it)', 'jkt');
  const verdict = byId('jkt-match');
  const tokenJkt = typeof cnf?.jkt === 'string' ? cnf.jkt : null;
  verdict.dataset.tokenJkt = tokenJkt ?? '';
  verdict.dataset.keyJkt = jkt;
  verdict.dataset.tokenType = tokens.token_type;
  if (tokenJkt === jkt && tokens.token_type.toLowerCase() === 'dpop') {
    verdict.dataset.match = 'true';
    verdict.className = 'verdict ok';
    verdict.textContent = `token_type is DPoP and cnf.jkt ${tokenJkt} is this browser key's thumbprint: the token is bound to this key.`;
  } else {
    verdict.dataset.match = 'false';
    verdict.className = 'verdict bad';
    verdict.textContent = `Not bound to this key: token_type ${tokens.token_type}, cnf.jkt ${tokenJkt ?? '(none)'}, key ${jkt}.`;
  }
  setStatus(status, 'Signed in.', 'ok');
  reveal(byId('step-api'));
  reveal(byId('step-steal'));
}

async function callApi(config: DemoConfig, client: DPoPClient): Promise<void> {
  if (!accessToken) return;
  const status = byId('api-status');
  const body = byId('api-body');
  proofList = byId('api-proofs');
  proofList.replaceChildren();
  setStatus(status, 'Calling…');
  try {
    const response = await client.fetch(config.api, { accessToken });
    const text = await response.text();
    const sent = proofList.childElementCount;
    setStatus(status, `${response.status} ${response.statusText || ''}`.trim() + ` after ${sent} proof${sent === 1 ? '' : 's'}`, response.ok ? 'ok' : 'bad');
    status.dataset.status = String(response.status);
    try {
      showJson(body, JSON.parse(text), 'subject');
    } catch {
      body.textContent = text;
    }
    reveal(body);
  } finally {
    proofList = null;
  }
}

function showAttempt(id: string, attempt: Attempt): void {
  const box = byId(id);
  const field = (name: string): HTMLElement => box.querySelector<HTMLElement>(`[data-field="${name}"]`)!;
  box.dataset.status = String(attempt.status);
  box.dataset.challenge = attempt.challenge ?? '';
  setStatus(
    field('status'),
    attempt.error
      ? `network error: ${attempt.error}`
      : `${attempt.status} ${attempt.status >= 400 ? 'refused' : 'ACCEPTED (should not be!)'}`,
    attempt.status >= 400 ? 'ok' : 'bad',
  );
  const thief = box.querySelector<HTMLElement>('[data-field="thief"]');
  if (thief && attempt.thiefJkt) {
    const code = document.createElement('code');
    code.textContent = attempt.thiefJkt;
    thief.replaceChildren("the thief's key: ", code);
  }
  const challenge = field('challenge');
  challenge.classList.add('lines');
  showLines(challenge, attempt.challenge ? challengeLines(attempt.challenge) : ['(none exposed)']);
  try {
    showJson(field('body'), JSON.parse(attempt.body));
  } catch {
    field('body').textContent = attempt.body;
  }
  reveal(box);
}

async function steal(config: DemoConfig): Promise<void> {
  if (!accessToken) return;
  const [other, bearer] = await Promise.all([withOtherKey(config.api, accessToken), asBearer(config.api, accessToken)]);
  showAttempt('steal-other-key', other);
  showAttempt('steal-bearer', bearer);
}

/** Run a button's action with the button disabled, turning failures into a message. */
function bind(id: string, action: () => Promise<void>): void {
  const button = byId<HTMLButtonElement>(id);
  button.addEventListener('click', () => {
    button.disabled = true;
    action()
      .catch((cause: unknown) => fatal(`${id}: ${(cause as Error)?.message ?? String(cause)}`))
      .finally(() => { button.disabled = false; });
  });
}

async function main(): Promise<void> {
  const config = await loadConfig();
  const keyStore = indexedDbKeyStore();
  const client = createDPoPClient({ keyStore, onProof, fetch: observedFetch });
  const jkt = await showKey(client, keyStore);

  bind('sign-in', () => signIn(config, client));
  bind('call-api', () => callApi(config, client));
  bind('steal', () => steal(config));
  bind('reset-key', async () => {
    await keyStore.clear();
    location.assign('/');
  });

  if (location.pathname === new URL(config.redirectUri).pathname) await handleCallback(config, client, jkt);
  // "in 5 min" stays true while the page is open.
  setInterval(() => refreshTimes(), 15_000);
  document.body.dataset.ready = 'true';
}

main().catch((cause: unknown) => {
  fatal(`The demo could not start: ${(cause as Error)?.message ?? String(cause)}`);
  document.body.dataset.ready = 'error';
});
