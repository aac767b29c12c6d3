/**
 * The authorization server's signing keys and their rotation.
 *
 * A key goes through three phases: *published* (in `/jwks`, not yet signing) from `createdAt`,
 * *signing* from `activatesAt` to `retiresAt`, then *published only* until `expiresAt`, when
 * every token it signed has expired. A successor is created `publishAhead` seconds before the
 * current key retires, so resource servers that cache the JWKS already know it when the first
 * token signed with it arrives. Keys are persisted through `Storage`, so a restart (or a second
 * process) signs with, and publishes, the same keys.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { backend } from '#crypto';
import type { PublicJwk } from '../core/crypto/backend.js';
import { jwkThumbprint } from '../core/thumbprint.js';
import { keyWeakness } from '../core/weak-keys.js';
import type { SigningKeyRecord, Storage } from './storage.js';

/** Algorithms the server can sign access tokens with. */
export type SigningAlg = 'ES256' | 'EdDSA' | 'RS256' | 'PS256';

export interface SigningKeyOptions {
  alg?: SigningAlg;
  /** Seconds a key signs before its successor takes over (default 30 days). */
  rotateAfter?: number;
  /** Seconds a successor is published before it signs (default 1 day, at most half of rotateAfter). */
  publishAhead?: number;
}

/** The key that signs now, ready to use. */
export interface ActiveKey {
  kid: string;
  alg: string;
  privateKey: KeyObject;
  /** The base64url JWS protected header for access tokens: `{ alg, typ: "at+jwt", kid }`. */
  headerSegment: string;
}

export interface SigningKeys {
  /** The key that signs at `now`. */
  active(now: number): Promise<ActiveKey>;
  /** Every published public key (RFC 7517 JWK Set members with `kid`, `alg`, `use`). */
  published(now: number): Promise<Record<string, unknown>[]>;
  /** A published key by `kid`, for verifying this server's own tokens (introspection, revocation). */
  verificationKey(kid: string, now: number): Promise<{ alg: string; key: KeyObject } | undefined>;
}

interface Loaded {
  records: SigningKeyRecord[];
  active: ActiveKey;
  /** Recompute at this time (a key activates, retires or expires, or 30 s pass). */
  until: number;
}

const CACHE_SECONDS = 30;
/** After creating a key: how soon to read the keys again (another process may have created one too). */
const SETTLE_SECONDS = 2;

function generate(alg: SigningAlg): { privateJwk: Record<string, unknown>; publicJwk: Record<string, unknown> } {
  const pair = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : alg === 'EdDSA'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateJwk: pair.privateKey.export({ format: 'jwk' }) as Record<string, unknown>,
    publicJwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
  };
}

/**
 * Keys from storage, created and rotated on demand.
 *
 * @param accessTokenTtl the longest lifetime of a token a key signs: a retired key stays
 *   published this long (plus a minute of clock slack).
 */
export function createSigningKeys(storage: Storage, options: SigningKeyOptions, accessTokenTtl: number): SigningKeys {
  const alg: SigningAlg = options.alg ?? 'ES256';
  const rotateAfter = Math.max(60, Math.floor(options.rotateAfter ?? 30 * 86400));
  const publishAhead = Math.min(Math.floor(options.publishAhead ?? 86400), Math.floor(rotateAfter / 2));
  const keyObjects = new Map<string, { alg: string; privateKey: KeyObject; publicKey: KeyObject }>();
  let loaded: Loaded | undefined;
  let loading: Promise<Loaded> | undefined;
  /** Last reload forced by an unknown kid (at most one per 10 s: unknown kids are attacker-chosen). */
  let lastForced = -Infinity;

  function objects(record: SigningKeyRecord): { alg: string; privateKey: KeyObject; publicKey: KeyObject } {
    let entry = keyObjects.get(record.kid);
    if (!entry) {
      const weakness = keyWeakness(record.publicJwk);
      if (weakness !== undefined) throw new Error(`signing key ${record.kid} is a weak key: ${weakness}`);
      entry = {
        alg: record.alg,
        privateKey: createPrivateKey({ key: record.privateJwk as never, format: 'jwk' }),
        publicKey: createPublicKey({ key: record.publicJwk as never, format: 'jwk' }),
      };
      keyObjects.set(record.kid, entry);
    }
    return entry;
  }

  async function create(now: number, activatesAt: number): Promise<SigningKeyRecord> {
    const { privateJwk, publicJwk } = generate(alg);
    const kid = await jwkThumbprint(publicJwk as PublicJwk);
    const retiresAt = activatesAt + rotateAfter;
    const record: SigningKeyRecord = {
      kid, alg, privateJwk, publicJwk, createdAt: now, activatesAt, retiresAt,
      // Published until the last token it signed has expired (plus clock slack).
      expiresAt: retiresAt + accessTokenTtl + 60,
    };
    await storage.saveSigningKey(record);
    return record;
  }

  async function load(now: number): Promise<Loaded> {
    // A weak key in storage (written by hand or by an attacker: a small-order Ed25519 point,
    // RSA e = 1) would verify tokens nobody signed: never published, never used.
    const usable = async () => (await storage.listSigningKeys(now)).filter((k) => k.expiresAt > now && keyWeakness(k.publicJwk) === undefined);
    let records = await usable();
    const signing = (at: number) => records.filter((k) => k.activatesAt <= at && at < k.retiresAt && k.alg === alg)
      // Deterministic choice when two processes created keys together: latest start, then kid.
      .sort((a, b) => b.activatesAt - a.activatesAt || (a.kid < b.kid ? -1 : 1))[0];
    let current = signing(now);
    let created = false;
    if (!current) {
      // No usable key (first start, alg changed, or the server was down past a rotation).
      // Processes of a fleet starting together may each create one: read them all back, so
      // each chooses by the same order, and look again within SETTLE_SECONDS (a process that
      // read before another had saved its key sees it then), so every process publishes every
      // key and signs with the same one.
      const own = await create(now, now);
      created = true;
      records = await usable();
      if (!records.some((k) => k.kid === own.kid)) records.push(own);
      current = signing(now)!;
    }
    const newest = records.filter((k) => k.alg === alg).reduce((a, b) => (b.activatesAt > a.activatesAt ? b : a), current);
    if (newest.retiresAt - publishAhead <= now) {
      // Publish the successor now; it starts signing when the newest key retires.
      records.push(await create(now, newest.retiresAt));
      created = true;
    }
    const obj = objects(current);
    const header = backend.base64urlEncode(JSON.stringify({ alg: current.alg, typ: 'at+jwt', kid: current.kid }));
    const boundaries = records.flatMap((k) => [k.activatesAt, k.retiresAt, k.expiresAt, k.retiresAt - publishAhead]).filter((t) => t > now);
    const until = Math.min(now + (created ? SETTLE_SECONDS : CACHE_SECONDS), ...boundaries);
    return { records, active: { kid: current.kid, alg: current.alg, privateKey: obj.privateKey, headerSegment: header }, until };
  }

  async function get(now: number): Promise<Loaded> {
    if (loaded && now < loaded.until && now >= loaded.until - CACHE_SECONDS - 1) return loaded;
    loading ??= load(now).finally(() => {
      loading = undefined;
    });
    loaded = await loading;
    return loaded;
  }

  return {
    async active(now) {
      return (await get(now)).active;
    },
    async published(now) {
      const { records } = await get(now);
      return records
        .filter((k) => k.createdAt <= now && now < k.expiresAt)
        .sort((a, b) => b.activatesAt - a.activatesAt)
        .map((k) => ({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: 'sig' }));
    },
    async verificationKey(kid, now) {
      let { records } = await get(now);
      let record = records.find((k) => k.kid === kid);
      if (!record && now - lastForced >= 10) {
        // Another process may have created it since the cache was filled.
        lastForced = now;
        loaded = undefined;
        records = (await get(now)).records;
        record = records.find((k) => k.kid === kid);
      }
      if (!record || record.expiresAt <= now) return undefined;
      const obj = objects(record);
      return { alg: obj.alg, key: obj.publicKey };
    },
  };
}
