/**
 * `explainProof`: every check of RFC 9449 §4.3 run one by one, reporting each as passed, failed
 * or skipped instead of stopping at the first failure. For people (the CLI's `verify`), not for
 * request handling: it spends no `jti`. It uses the very check functions `verifyProof` uses.
 *
 * @module
 */
import { backend } from '#crypto';
import { DEFAULT_ALGORITHMS } from '../crypto/algorithms.js';
import type { PublicJwk } from '../crypto/backend.js';
import { DPoPError, type DPoPReason } from '../errors.js';
import { checkPublicJwk } from '../jwk.js';
import { accessTokenHash, jwkThumbprint } from '../thumbprint.js';
import {
  checkAlg, checkAth, checkClaimTypes, checkHeaderShape, checkHtm, checkHtu, checkIat, checkJkt,
  checkSignature, checkTyp, type ProofClaims,
} from './checks.js';
import { decodeJsonSegment, singleProof, splitCompact, type CompactParts } from './parse.js';
import type { ProofExpectations } from './verify.js';

export interface CheckResult {
  /** Short name, e.g. `htu`. */
  check: string;
  /** Where the rule is written, e.g. `RFC 9449 §4.3 (9)`. */
  rule: string;
  status: 'pass' | 'fail' | 'skip';
  reason?: DPoPReason;
  message?: string;
  detail?: Record<string, unknown>;
}

export interface ProofExplanation {
  valid: boolean;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  jkt?: string;
  checks: CheckResult[];
}

export async function explainProof(proof: string, expectations: Omit<ProofExpectations, 'replayCache'>): Promise<ProofExplanation> {
  const checks: CheckResult[] = [];
  const out: ProofExplanation = { valid: false, checks };
  const run = async (check: string, rule: string, ready: boolean, fn: () => unknown): Promise<boolean> => {
    if (!ready) {
      checks.push({ check, rule, status: 'skip', message: 'an earlier check failed' });
      return false;
    }
    try {
      await fn();
      checks.push({ check, rule, status: 'pass' });
      return true;
    } catch (err) {
      if (!(err instanceof DPoPError)) throw err;
      checks.push({ check, rule, status: 'fail', reason: err.reason, message: err.message, ...(err.detail ? { detail: err.detail } : {}) });
      return false;
    }
  };

  let parts: CompactParts | undefined;
  let header: Record<string, unknown> | undefined;
  let claims: ProofClaims | undefined;
  let jwk: PublicJwk | undefined;
  const structure = await run('structure', 'RFC 9449 §4.3 (1)–(2)', true, () => {
    parts = splitCompact(singleProof(proof));
    header = decodeJsonSegment(parts.header, 'header');
    out.header = header;
    checkHeaderShape(header);
  });
  await run('typ', 'RFC 9449 §4.3 (4)', structure, () => checkTyp(header!));
  const alg = await run('alg', 'RFC 9449 §4.3 (5)', structure, () => checkAlg(header!.alg, new Set(expectations.algs ?? DEFAULT_ALGORITHMS)));
  const key = await run('jwk', 'RFC 9449 §4.3 (7)', structure && alg, async () => {
    jwk = checkPublicJwk(header!.jwk, header!.alg as never);
    out.jkt = await jwkThumbprint(jwk);
  });
  const typed = await run('claims', 'RFC 9449 §4.3 (3)', structure, () => {
    out.claims = decodeJsonSegment(parts!.payload, 'payload');
    claims = checkClaimTypes(out.claims);
  });
  await run('signature', 'RFC 9449 §4.3 (6)', key, async () => {
    let imported: unknown;
    try {
      imported = await backend.importPublicJwk(jwk!, header!.alg as string);
    } catch (err) {
      if (err instanceof DPoPError) throw err; // the backend's weak-key refusal keeps its reason
      throw new DPoPError('invalid_dpop_proof', 'bad_jwk', 'the "jwk" header parameter is not a valid public key');
    }
    checkSignature(await backend.verify(header!.alg as string, imported, parts!.signingInput, backend.base64urlDecode(parts!.signature)));
  });
  await run('htm', 'RFC 9449 §4.3 (8)', typed, () => checkHtm(claims!, expectations.method));
  await run('htu', 'RFC 9449 §4.3 (9)', typed, () => checkHtu(claims!, expectations.url));
  if (expectations.nonce) {
    await run('nonce', 'RFC 9449 §4.3 (10)', typed, async () => {
      if (claims!.nonce === undefined) throw new DPoPError('use_dpop_nonce', 'nonce_missing', 'the server requires a nonce in the DPoP proof');
      if (!(await expectations.nonce!.check(claims!.nonce, expectations.now)).valid) throw new DPoPError('use_dpop_nonce', 'nonce_invalid', 'the DPoP proof nonce is stale or unknown');
    });
  }
  const now = expectations.now ?? Date.now() / 1000;
  await run('iat', 'RFC 9449 §4.3 (11)', typed, () => checkIat(claims!, now, { maxAge: expectations.maxAge ?? 300, maxFuture: expectations.maxFuture ?? 5 }));
  if (expectations.accessToken !== undefined) {
    const ath = await accessTokenHash(expectations.accessToken);
    await run('ath', 'RFC 9449 §4.3 (12)', typed, () => checkAth(claims!, ath));
  }
  if (expectations.jkt !== undefined) await run('jkt', 'RFC 9449 §4.3 (12)', key, () => checkJkt(out.jkt!, expectations.jkt!));
  out.valid = checks.every((c) => c.status === 'pass');
  return out;
}
