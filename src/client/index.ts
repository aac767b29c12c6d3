/**
 * `dpopkit/client`: a DPoP client for browsers and Node 20 (RFC 9449), with no server code and no
 * Node-only imports. The Node file key store is `dpopkit/client/file-key-store`.
 *
 * @example
 * ```ts
 * import { createDPoPClient, discover, clientCredentials } from 'dpopkit/client';
 * const client = createDPoPClient();
 * const metadata = await discover('https://as.example');
 * const { access_token } = await clientCredentials(client, metadata, { clientId: 'svc', clientSecret: 's3cret' });
 * const res = await client.fetch('https://api.example/items', { accessToken: access_token });
 * ```
 *
 * @module
 */
export { createDPoPClient, type DPoPClient, type DPoPClientOptions, type DPoPRequestInit, type ProofInfo } from './dpop-client.js';
export { createNonceCache, isAcceptableNonce, DEFAULT_MAX_NONCE_ORIGINS, type NonceCache } from './nonce-cache.js';
export { isUseDPoPNonce } from './nonce-error.js';
export { discover } from './oauth/discovery.js';
export { createPkce, randomState, type Pkce } from './oauth/pkce.js';
export { authorizationUrl, pushAuthorizationRequest, type AuthorizationRequest, type PushedAuthorizationRequest } from './oauth/authorize.js';
export type { ResourceIndicator } from './oauth/resource-indicator.js';
export { exchangeCode, clientCredentials, refresh, type CodeExchange, type ClientCredentialsGrant, type RefreshGrant } from './oauth/grants.js';
export type { TokenRequestOptions } from './oauth/token-request.js';
export { OAuthResponseError, type ClientErrorCode, type OAuthResponseErrorOptions } from './oauth/errors.js';
export type { AuthorizationServerMetadata, TokenResponse, TokenEndpointTarget, ClientAuth, ClientAuthMethod } from './oauth/types.js';
export { createTokenHolder, type TokenHolder, type TokenHolderOptions } from './token-holder.js';
export { discoverResource, protectedResourceMetadataUrl, resourceMetadataFromChallenge, isWithinResource, type DiscoverResourceOptions, type ProtectedResourceMetadata, type ResourceDiscovery } from './discover-resource.js';
export { register, type ClientMetadata, type RegisteredClient, type RegisterOptions } from './register.js';
export { createSafeFetch, checkFetchableUrl, isLoopbackHost, type SafeFetchOptions } from './safe-fetch.js';
export { signIn, stepUp, stepUpChallenge, type SignInOptions, type SignInPrompt, type SignInResult, type RedirectToWeb, type StepUpChallenge } from './sign-in.js';
export type { KeyStore } from './key-store/types.js';
export { indexedDbKeyStore, type IndexedDbKeyStoreOptions } from './key-store/indexeddb.js';
// Core pieces a client needs, so `dpopkit/client` alone suffices.
export { generateKeyPair, importKeyPair, exportPublicJwk, keyThumbprint } from '../core/keys.js';
export { jwkThumbprint } from '../core/thumbprint.js';
export type { DPoPKeyPair, KeyPairLike, PublicJwk } from '../core/crypto/backend.js';
export type { DPoPAlgorithm } from '../core/crypto/algorithms.js';
