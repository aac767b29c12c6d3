/**
 * dpopkit core: DPoP proofs (RFC 9449) made and checked, key thumbprints, nonces and challenges.
 * Role packages: `dpopkit/client`, `dpopkit/resource-server`, `dpopkit/authorization-server`;
 * stores: `dpopkit/stores/memory`, `dpopkit/stores/redis`, `dpopkit/stores/postgres`.
 *
 * @module
 */
export { createProof, createProofSigner, type CreateProofOptions, type ProofSigner } from './core/proof/create.js';
export { verifyProof, createProofVerifier, spendProofJti, type ProofExpectations, type ProofVerifier, type ProofVerifierOptions, type VerifiedProof } from './core/proof/verify.js';
export type { ProofClaims, ProofHeader, IatWindow } from './core/proof/checks.js';
export { generateKeyPair, importKeyPair, exportPublicJwk, keyThumbprint, type GenerateKeyPairOptions } from './core/keys.js';
export { jwkThumbprint, canonicalJwk, accessTokenHash } from './core/thumbprint.js';
export { normalizeHtu, htuMatches, explainHtuMismatch, stripQueryAndFragment } from './core/htu.js';
export type { DPoPOptions } from './core/dpop-options.js';
export { createNonceSource, constantTimeEqual, NONCE_SYNTAX, MAX_NONCE_LENGTH, type NonceOptions, type NonceSource, type NonceCheck, type StatelessNonceOptions } from './core/nonce.js';
export { replayKey, type ReplayCache } from './core/replay.js';
export { formatChallenge, parseChallenges, findChallenge, type Challenge, type ChallengeParams } from './core/challenge.js';
export { DPoPError, isDPoPError, invalidProof, type DPoPErrorName, type DPoPReason } from './core/errors.js';
export { ALGORITHMS, DEFAULT_ALGORITHMS, algorithmForJwk, isSupportedAlgorithm, type DPoPAlgorithm } from './core/crypto/algorithms.js';
export type { DPoPKeyPair, KeyPairLike, PublicJwk } from './core/crypto/backend.js';
export type { Logger } from './core/logger.js';
export type { ArgumentError, ArgumentErrorCode } from './core/argument-error.js';
export { checkPublicJwk } from './core/jwk.js';
