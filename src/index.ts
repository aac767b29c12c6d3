/**
 * dpopkit core: DPoP proofs (RFC 9449) made and checked, key thumbprints, nonces and challenges.
 * Role packages: `dpopkit/client`, `dpopkit/resource-server`, `dpopkit/authorization-server`;
 * stores: `dpopkit/stores/memory`, `dpopkit/stores/redis`, `dpopkit/stores/postgres`.
 *
 * @module
 */
export { createProof, type CreateProofOptions } from './core/proof/create.js';
export { verifyProof, clearProofCaches, type ProofExpectations, type VerifiedProof } from './core/proof/verify.js';
export type { ProofClaims, ProofHeader, IatWindow } from './core/proof/checks.js';
export { generateKeyPair, exportPublicJwk, keyThumbprint, type GenerateKeyPairOptions } from './core/keys.js';
export { jwkThumbprint, canonicalJwk, accessTokenHash } from './core/thumbprint.js';
export { normalizeHtu, htuMatches, explainHtuMismatch, stripQueryAndFragment } from './core/htu.js';
export { createNonceSource, constantTimeEqual, NONCE_SYNTAX, MAX_NONCE_LENGTH, type NonceSource, type NonceCheck, type StatelessNonceOptions } from './core/nonce.js';
export { replayKey, type ReplayCache } from './core/replay.js';
export { formatChallenge, parseChallenges, findChallenge, type Challenge, type ChallengeParams } from './core/challenge.js';
export { DPoPError, isDPoPError, invalidProof, type DPoPErrorName, type DPoPReason } from './core/errors.js';
export { ALGORITHMS, DEFAULT_ALGORITHMS, algorithmForJwk, isSupportedAlgorithm, type DPoPAlgorithm } from './core/crypto/algorithms.js';
export type { DPoPKeyPair, PublicJwk } from './core/crypto/backend.js';
export { checkPublicJwk } from './core/jwk.js';
