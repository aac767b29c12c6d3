/**
 * Type tests of the public API (`tsc -p tsconfig.types.json`, run by `npm test`): what users
 * write must compile, what they must not write must not, against the published declarations.
 */
import { expectTypeOf } from 'vitest';
import { createProof, DPoPError, generateKeyPair, verifyProof, type DPoPKeyPair, type DPoPReason, type VerifiedProof } from 'dpopkit';
import { createDPoPClient } from 'dpopkit/client';
import { createResourceServer } from 'dpopkit/resource-server';
import { createMemoryReplayCache, createMemoryStorage } from 'dpopkit/stores/memory';
import type { AuthorizationServer, ConnectionInfo, Storage } from 'dpopkit/authorization-server';
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
expectTypeOf<AuthorizationServer['fetch']>().parameters.toEqualTypeOf<[Request, (ConnectionInfo | undefined)?]>();
expectTypeOf<ConnectionInfo>().toEqualTypeOf<{ remoteAddress?: string }>();
declare const as: AuthorizationServer;
expectTypeOf(toNodeHandler(as)).toMatchTypeOf<RequestListener>();
expectTypeOf(toExpressHandler(as)).toMatchTypeOf<RequestHandler>();
expectTypeOf(createMemoryStorage()).toEqualTypeOf<Storage>();
