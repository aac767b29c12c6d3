/**
 * Type tests of the public API (`tsc -p tsconfig.types.json`, run by `npm test`): what users
 * write must compile, what they must not write must not, against the published declarations.
 */
import { expectTypeOf } from 'vitest';
import { createProof, DPoPError, generateKeyPair, verifyProof, type DPoPKeyPair, type DPoPReason, type VerifiedProof } from 'dpopkit';
import * as core from 'dpopkit';
import { createProofSigner, createProofVerifier, importKeyPair, type DPoPOptions, type KeyPairLike, type Logger, type NonceOptions, type NonceSource, type ProofSigner, type ProofVerifier } from 'dpopkit';
import { createDPoPClient } from 'dpopkit/client';
import * as client from 'dpopkit/client';
import {
  clientCredentials, createTokenHolder, exchangeCode, importKeyPair as clientImportKeyPair, OAuthResponseError, pushAuthorizationRequest, refresh,
  type AuthorizationServerMetadata, type ClientAuth, type ClientCredentialsGrant, type CodeExchange, type DPoPClient, type DPoPClientOptions,
  type KeyPairLike as ClientKeyPairLike, type PushedAuthorizationRequest, type RefreshGrant, type TokenEndpointTarget, type TokenRequestOptions,
} from 'dpopkit/client';
import { createResourceServer } from 'dpopkit/resource-server';
import {
  ResourceServerError, type Logger as RsLogger, type NonceOptions as RsNonceOptions, type RequestLike, type ResourceServer, type ResourceServerOptions,
  type ResourceServerMetricsHook, type ResourceServerReason, type VerifyOptions,
} from 'dpopkit/resource-server';
import {
  createAuthorizationServer, OAuthError, type AuthorizationServerOptions, type AuthorizationServerReason, type Logger as AsLogger,
  type NonceOptions as AsNonceOptions, type OAuthErrorCode,
} from 'dpopkit/authorization-server';
import { createMemoryReplayCache, createMemoryStorage } from 'dpopkit/stores/memory';
import type { AsRequest, AuthorizationServer, ConnectionInfo, Storage } from 'dpopkit/authorization-server';
import { toNodeHandler } from 'dpopkit/authorization-server/node';
import { toExpressHandler } from 'dpopkit/authorization-server/express';
import type { RequestListener } from 'node:http';
import type { RequestHandler } from 'express';

// Core: a key pair carries its algorithm; proofs are strings; verification gives the thumbprint.
expectTypeOf(generateKeyPair).returns.resolves.toEqualTypeOf<DPoPKeyPair>();
expectTypeOf<DPoPKeyPair['alg']>().toEqualTypeOf<DPoPKeyPair['alg']>();
expectTypeOf(createProof).returns.resolves.toBeString();
expectTypeOf(verifyProof).returns.resolves.toEqualTypeOf<VerifiedProof>();
expectTypeOf<VerifiedProof['jkt']>().toBeString();

// Errors: the reason is a closed union, never any string.
expectTypeOf<DPoPError['reason']>().toEqualTypeOf<DPoPReason>();
expectTypeOf<'htu_mismatch'>().toMatchTypeOf<DPoPReason>();
expectTypeOf<'no_such_reason'>().not.toMatchTypeOf<DPoPReason>();

// Factories exist under their documented entry points.
expectTypeOf(createDPoPClient).toBeFunction();
expectTypeOf(createResourceServer).toBeFunction();
expectTypeOf(createMemoryReplayCache).toBeFunction();

// The authorization server: one fetch entry with the address as a plain value; its adapters fit
// node:http and Express as they are; the memory storage is a Storage.
expectTypeOf<AuthorizationServer['fetch']>().parameters.toEqualTypeOf<[AsRequest, (ConnectionInfo | undefined)?]>();
// A web Request is an AsRequest: as.fetch(request) works in any fetch runtime.
expectTypeOf<Request>().toMatchTypeOf<AsRequest>();
expectTypeOf<ReturnType<AuthorizationServer['fetch']>>().toEqualTypeOf<Promise<Response>>();
expectTypeOf<ConnectionInfo>().toEqualTypeOf<{ remoteAddress?: string }>();
declare const as: AuthorizationServer;
expectTypeOf(toNodeHandler(as)).toMatchTypeOf<RequestListener>();
expectTypeOf(toExpressHandler(as)).toMatchTypeOf<RequestHandler>();
expectTypeOf(createMemoryStorage()).toEqualTypeOf<Storage>();

// One vocabulary across the roles (v0.x renames; the old names are gone, not aliased).
// The DPoP group: the same members in both servers, with one NonceOptions and one Logger.
expectTypeOf<NonceOptions>().toEqualTypeOf<false | NonceSource | { secret?: string | Uint8Array; stepSeconds?: number }>();
expectTypeOf<DPoPOptions>().toEqualTypeOf<{ algs?: readonly string[]; nonce?: NonceOptions; maxAge?: number; maxFuture?: number; threadpool?: boolean }>();
expectTypeOf<NonNullable<ResourceServerOptions['dpop']>>().toEqualTypeOf<DPoPOptions>();
expectTypeOf<NonNullable<AuthorizationServerOptions['dpop']>>().toMatchTypeOf<DPoPOptions>();
expectTypeOf<RsNonceOptions>().toEqualTypeOf<NonceOptions>();
expectTypeOf<AsNonceOptions>().toEqualTypeOf<NonceOptions>();
expectTypeOf<Logger['debug']>().toEqualTypeOf<(obj: object, msg?: string) => void>();
expectTypeOf<keyof Logger>().toEqualTypeOf<'debug' | 'info' | 'warn' | 'error'>();
expectTypeOf<RsLogger>().toEqualTypeOf<Logger>();
expectTypeOf<AsLogger>().toEqualTypeOf<Logger>();
expectTypeOf<NonNullable<ResourceServerOptions['logger']>>().toEqualTypeOf<Logger>();
expectTypeOf<NonNullable<AuthorizationServerOptions['logger']>>().toEqualTypeOf<Logger>();
createResourceServer({ issuer: 'https://as.example', audience: 'https://api.example', dpop: { algs: ['ES256'], nonce: { secret: 's'.repeat(32) }, maxAge: 60, maxFuture: 2 } });
createResourceServer({ issuer: 'https://as.example', audience: 'https://api.example', dpop: { nonce: false } });
// The metrics hook: every member optional, durations in seconds.
createResourceServer({
  issuer: 'https://as.example', audience: 'https://api.example',
  metricsHook: { proofVerified: (seconds: number, ok: boolean) => void [seconds, ok], tokenVerified: (_s, kind) => void expectTypeOf(kind).toEqualTypeOf<'jwt' | 'introspection'>() },
});
expectTypeOf<NonNullable<ResourceServerOptions['metricsHook']>>().toEqualTypeOf<ResourceServerMetricsHook>();
expectTypeOf<Parameters<NonNullable<ResourceServerMetricsHook['request']>>>().toEqualTypeOf<['accepted' | 'refused', ResourceServerReason | undefined]>();
// @ts-expect-error proofAlgs is dpop.algs
createResourceServer({ issuer: 'https://as.example', audience: 'https://api.example', proofAlgs: ['ES256'] });
// @ts-expect-error nonce is dpop.nonce
createResourceServer({ issuer: 'https://as.example', audience: 'https://api.example', nonce: { secret: 's'.repeat(32) } });
// @ts-expect-error maxAge is dpop.maxAge
createResourceServer({ issuer: 'https://as.example', audience: 'https://api.example', maxAge: 60 });
declare const storage: Storage;
const asOptions = { issuer: 'https://as.example', storage, clients: [] };
void createAuthorizationServer({ ...asOptions, dpop: { nonce: { stepSeconds: 30 }, replayQuota: { perKey: 10 } }, clock: () => 0 });
// @ts-expect-error nonce: 'required' is nonce: {} (or { secret })
void createAuthorizationServer({ ...asOptions, dpop: { nonce: 'required' } });
// @ts-expect-error nonceSecret is dpop.nonce.secret
void createAuthorizationServer({ ...asOptions, dpop: { nonceSecret: 's'.repeat(32) } });
// @ts-expect-error now is clock
void createAuthorizationServer({ ...asOptions, now: () => 0 });

// State belongs to an instance: verifiers and signers own their caches; nothing to clear globally.
expectTypeOf(createProofVerifier).returns.toEqualTypeOf<ProofVerifier>();
expectTypeOf<ProofVerifier['verify']>().returns.resolves.toEqualTypeOf<VerifiedProof>();
expectTypeOf(createProofSigner).returns.toEqualTypeOf<ProofSigner>();
expectTypeOf<ProofSigner['sign']>().returns.resolves.toBeString();
// @ts-expect-error clearProofCaches is gone (no module-level cache)
void core.clearProofCaches;

// Errors: error (RFC name), reason (closed union per role), status, in every role.
expectTypeOf<DPoPError['status']>().toBeNumber();
expectTypeOf<ResourceServerError['reason']>().toEqualTypeOf<ResourceServerReason>();
expectTypeOf<ResourceServerError['status']>().toBeNumber();
expectTypeOf<OAuthError['reason']>().toEqualTypeOf<AuthorizationServerReason>();
expectTypeOf<OAuthError['error']>().toEqualTypeOf<OAuthErrorCode>();
expectTypeOf<OAuthError['status']>().toBeNumber();
expectTypeOf<DPoPReason>().toMatchTypeOf<AuthorizationServerReason>();
expectTypeOf<'replay_quota_exceeded'>().toMatchTypeOf<AuthorizationServerReason>();
expectTypeOf<'no_such_reason'>().not.toMatchTypeOf<AuthorizationServerReason>();
expectTypeOf<'insufficient_scope'>().toMatchTypeOf<ResourceServerReason>();
// The client's error: the RFC's field names, the Response non-enumerable.
expectTypeOf<OAuthResponseError['error']>().toBeString();
expectTypeOf<OAuthResponseError['error_description']>().toEqualTypeOf<string | undefined>();
expectTypeOf<OAuthResponseError['status']>().toBeNumber();
expectTypeOf<OAuthResponseError['response']>().toEqualTypeOf<Response | undefined>();
// @ts-expect-error errorDescription is error_description
void ({} as OAuthResponseError).errorDescription;
// @ts-expect-error the client's error is OAuthResponseError (OAuthError is the authorization server's)
void client.OAuthError;

// The resource server checks scopes in verify; requireScopes is gone.
expectTypeOf<ResourceServer['verify']>().parameters.toEqualTypeOf<[RequestLike, VerifyOptions?]>();
expectTypeOf<VerifyOptions['scopes']>().toEqualTypeOf<readonly string[] | undefined>();
// @ts-expect-error scopes are passed to verify
void ({} as ResourceServer).requireScopes;

// Client token helpers: one options object per call, the ClientAuth part shared.
declare const dpop: DPoPClient;
declare const metadata: AuthorizationServerMetadata;
expectTypeOf<TokenRequestOptions>().toMatchTypeOf<ClientAuth>();
expectTypeOf<CodeExchange>().toMatchTypeOf<TokenRequestOptions>();
expectTypeOf<ClientCredentialsGrant>().toMatchTypeOf<TokenRequestOptions>();
expectTypeOf<RefreshGrant>().toMatchTypeOf<TokenRequestOptions>();
expectTypeOf<PushedAuthorizationRequest>().toMatchTypeOf<ClientAuth>();
expectTypeOf(exchangeCode).parameters.toEqualTypeOf<[DPoPClient, AuthorizationServerMetadata, CodeExchange]>();
expectTypeOf(clientCredentials).parameters.toEqualTypeOf<[DPoPClient, TokenEndpointTarget, ClientCredentialsGrant]>();
expectTypeOf(refresh).parameters.toEqualTypeOf<[DPoPClient, TokenEndpointTarget, RefreshGrant]>();
void exchangeCode(dpop, metadata, { clientId: 'c', clientSecret: 's', authMethod: 'client_secret_post', code: 'x', redirectUri: 'https://app/cb', codeVerifier: 'v', clock: () => 0 });
void pushAuthorizationRequest(dpop, metadata, { clientId: 'c', authMethod: 'client_secret_basic', clientSecret: 's', redirectUri: 'https://app/cb', state: 's', codeChallenge: 'c' });
// @ts-expect-error now is clock
void clientCredentials(dpop, metadata, { clientId: 'c', now: () => 0 });
// @ts-expect-error now is clock
createTokenHolder(dpop, { initial: { access_token: 'a', token_type: 'DPoP' }, refresh: async () => ({ access_token: 'a', token_type: 'DPoP' }), now: () => 0 });

// Keys: the client takes a DPoPKeyPair or keys made elsewhere; importKeyPair gives them their alg.
expectTypeOf<NonNullable<DPoPClientOptions['key']>>().toEqualTypeOf<DPoPKeyPair | KeyPairLike>();
expectTypeOf(importKeyPair).returns.resolves.toEqualTypeOf<DPoPKeyPair>();
expectTypeOf(clientImportKeyPair).toEqualTypeOf(importKeyPair);
expectTypeOf<ClientKeyPairLike>().toEqualTypeOf<KeyPairLike>();
declare const webKeys: CryptoKeyPair;
createDPoPClient({ key: webKeys });
