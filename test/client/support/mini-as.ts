/**
 * A minimal authorization server for the client's token-helper tests (a stand-in for a remote
 * peer): RFC 8414 metadata, PAR (RFC 9126), authorize, and a token endpoint that verifies each
 * DPoP proof with core's verifyProof, demands nonces (§8) when asked, checks PKCE S256 and the
 * code's dpop_jkt (§10), and binds tokens to the proof's key (cnf.jkt, §6).
 */
import { createHash, randomBytes } from 'node:crypto';
import { DPoPError } from '../../../src/core/errors.js';
import { createMemoryReplayCache } from '../../../src/stores/memory.js';
import { checkProof, controlledNonces, startServer, type Seen, type TestServer } from './servers.js';

export interface MiniAsOptions {
  /** Path part of the issuer ('' → issuer is the origin). */
  issuerPath?: string;
  /** Demand §8 nonces at the token and PAR endpoints. */
  requireNonce?: boolean;
  /** token_type to answer with (default DPoP) — 'Bearer' simulates a downgrade. */
  tokenType?: string;
  /** Issue a new refresh token on each refresh (default true). */
  rotateRefreshTokens?: boolean;
  /** Serve metadata only at the OpenID location. */
  oidcOnly?: boolean;
  /** Put this issuer into the metadata instead of the real one. */
  claimIssuer?: string;
  expiresIn?: number;
}

interface Grant { clientId: string; jkt: string; scope?: string }

const b64u = (b: Buffer): string => b.toString('base64url');
const json = (status: number, body: unknown, headers: Record<string, string | undefined> = {}) => ({ status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

export const CLIENTS: Record<string, { secret?: string; redirectUri?: string }> = {
  pub: { redirectUri: 'http://app.test/cb' },
  conf: { secret: 'p@ss word:/+', redirectUri: 'http://app.test/cb' },
};

export async function startMiniAs(options: MiniAsOptions = {}): Promise<TestServer & {
  issuer: string;
  tokens: Map<string, Grant>;
  refreshTokens: Map<string, Grant>;
  nonces: ReturnType<typeof controlledNonces>;
}> {
  const nonces = controlledNonces('as');
  const replay = createMemoryReplayCache();
  const tokens = new Map<string, Grant>();
  const refreshTokens = new Map<string, Grant>();
  const requests = new Map<string, URLSearchParams>();
  const codes = new Map<string, { params: URLSearchParams }>();
  let issuer = '';

  function clientAuth(req: Seen, body: URLSearchParams): string | undefined {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (basic) {
      const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':').map((p) => decodeURIComponent(p.replace(/\+/g, ' ')));
      return id && CLIENTS[id]?.secret !== undefined && CLIENTS[id]!.secret === secret ? id : undefined;
    }
    const id = body.get('client_id') ?? '';
    const client = CLIENTS[id];
    if (!client) return undefined;
    if (client.secret !== undefined) return body.get('client_secret') === client.secret ? id : undefined;
    return id;
  }

  async function proofOr400(req: Seen) {
    try {
      return { proof: await checkProof(req, { replay, ...(options.requireNonce ? { nonces } : {}) }) };
    } catch (err) {
      if (!(err instanceof DPoPError)) throw err;
      // §8: the AS answers 400 with the error in the JSON body, plus a fresh DPoP-Nonce.
      return { error: json(400, { error: err.error, error_description: err.message }, options.requireNonce ? { 'dpop-nonce': nonces.value } : {}) };
    }
  }

  function issue(grant: Grant) {
    const accessToken = b64u(randomBytes(16));
    tokens.set(accessToken, grant);
    const refreshToken = b64u(randomBytes(16));
    refreshTokens.set(refreshToken, grant);
    return { access_token: accessToken, token_type: options.tokenType ?? 'DPoP', expires_in: options.expiresIn ?? 300, refresh_token: refreshToken, ...(grant.scope ? { scope: grant.scope } : {}) };
  }

  const server = await startServer(async (req) => {
    const url = new URL(req.url);
    const path = url.pathname;
    const metadata = {
      issuer: options.claimIssuer ?? issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      pushed_authorization_request_endpoint: `${issuer}/par`,
      dpop_signing_alg_values_supported: ['ES256'],
      authorization_response_iss_parameter_supported: true,
    };
    const ip = options.issuerPath ?? '';
    if (!options.oidcOnly && path === `/.well-known/oauth-authorization-server${ip}`) return json(200, metadata);
    if (path === `${ip}/.well-known/openid-configuration`) return json(200, metadata);
    if (path === `${ip}/authorize`) {
      let params = url.searchParams;
      const requestUri = params.get('request_uri');
      if (requestUri) {
        const pushed = requests.get(requestUri);
        if (!pushed || pushed.get('client_id') !== params.get('client_id')) return json(400, { error: 'invalid_request_uri' });
        params = pushed;
      }
      const code = b64u(randomBytes(12));
      codes.set(code, { params });
      const to = new URL(params.get('redirect_uri')!);
      to.searchParams.set('code', code);
      to.searchParams.set('state', params.get('state') ?? '');
      to.searchParams.set('iss', issuer);
      return { status: 302, headers: { location: to.href } };
    }
    if (path === `${ip}/par`) {
      const checked = await proofOr400(req);
      if (checked.error) return checked.error;
      const body = new URLSearchParams(req.body);
      const clientId = clientAuth(req, body);
      if (!clientId) return json(401, { error: 'invalid_client' });
      body.set('client_id', clientId);
      body.delete('client_secret');
      // RFC 9449 §10.1: dpop_jkt, when sent with a PAR proof, must match the proof's key.
      if (body.get('dpop_jkt') && body.get('dpop_jkt') !== checked.proof!.jkt) return json(400, { error: 'invalid_dpop_proof', error_description: 'dpop_jkt does not match the proof key' });
      const requestUri = `urn:ietf:params:oauth:request_uri:${b64u(randomBytes(12))}`;
      requests.set(requestUri, body);
      return json(201, { request_uri: requestUri, expires_in: 60 });
    }
    if (path === `${ip}/token`) {
      const checked = await proofOr400(req);
      if (checked.error) return checked.error;
      const jkt = checked.proof!.jkt;
      const body = new URLSearchParams(req.body);
      const clientId = clientAuth(req, body);
      if (!clientId) return json(401, { error: 'invalid_client' });
      const nonceHeader = options.requireNonce ? { 'dpop-nonce': nonces.value } : {};
      switch (body.get('grant_type')) {
        case 'authorization_code': {
          const entry = codes.get(body.get('code') ?? '');
          codes.delete(body.get('code') ?? '');
          if (!entry || entry.params.get('client_id') !== clientId) return json(400, { error: 'invalid_grant', error_description: 'unknown code' });
          if (entry.params.get('redirect_uri') !== body.get('redirect_uri')) return json(400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
          const challenge = b64u(createHash('sha256').update(body.get('code_verifier') ?? '').digest());
          if (entry.params.get('code_challenge_method') !== 'S256' || challenge !== entry.params.get('code_challenge')) return json(400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
          const bound = entry.params.get('dpop_jkt');
          if (bound && bound !== jkt) return json(400, { error: 'invalid_dpop_proof', error_description: 'the code is bound to another key (dpop_jkt)' });
          return json(200, issue({ clientId, jkt, ...(entry.params.get('scope') ? { scope: entry.params.get('scope')! } : {}) }), nonceHeader);
        }
        case 'client_credentials':
          if (CLIENTS[clientId]?.secret === undefined) return json(400, { error: 'unauthorized_client' });
          return json(200, issue({ clientId, jkt, ...(body.get('scope') ? { scope: body.get('scope')! } : {}) }), nonceHeader);
        case 'refresh_token': {
          const rt = body.get('refresh_token') ?? '';
          const grant = refreshTokens.get(rt);
          if (!grant || grant.clientId !== clientId) return json(400, { error: 'invalid_grant' });
          if (grant.jkt !== jkt) return json(400, { error: 'invalid_dpop_proof', error_description: 'refresh token bound to another key' });
          const out = issue(grant);
          if (options.rotateRefreshTokens === false) {
            refreshTokens.delete(out.refresh_token);
            const { refresh_token: _omit, ...rest } = out;
            return json(200, rest, nonceHeader);
          }
          refreshTokens.delete(rt);
          return json(200, out, nonceHeader);
        }
        default:
          return json(400, { error: 'unsupported_grant_type' });
      }
    }
    return { status: 404, body: 'not found' };
  });
  issuer = `${server.url}${options.issuerPath ?? ''}`;
  return Object.assign(server, { issuer, tokens, refreshTokens, nonces });
}
