import { createHash, createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { KEY_BYTES, KeyringError, type Keyring } from '../../platform/crypto/index.js';

/**
 * Ed25519 signing keys derived from the `JWT_SIGNING_KEYS` keyring.
 *
 * Each 32-byte keyring secret goes through HKDF-SHA-256 (empty salt, info = JWT_SIGNING_KEY_LABEL)
 * and the output is the Ed25519 private-key seed (RFC 8032). Why HKDF and not the raw secret: the
 * same value pasted by mistake into another keyring (ENCRYPTION_KEYRING, BLIND_INDEX_KEY, ...) still
 * yields unrelated keys, as every primitive in platform/crypto derives its own; and the label's
 * version lets a future scheme change the derivation without touching the configured secrets.
 * Derivation is deterministic, so every instance sharing the keyring publishes the same JWKS.
 */
export const JWT_SIGNING_KEY_LABEL = 'violentutf/jwt-signing/ed25519/v1';
export const JWT_ALG = 'EdDSA';

/** RFC 8410 PrivateKeyInfo for Ed25519 up to the 32-byte seed: node:crypto has no raw-seed import. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** 16 base64url characters = 96 bits of the thumbprint: enough to tell keys apart, short in headers. */
const KID_THUMBPRINT_CHARS = 16;

/** The only shape the JWKS ever publishes: no private member can appear by construction. */
export interface Ed25519PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

export interface SigningKey {
  readonly version: number;
  /** `v<version>-<RFC 7638 thumbprint prefix>`: stable per version, changes if the secret is replaced. */
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicJwk: Ed25519PublicJwk;
}

export interface SigningKeys {
  /** The key of the keyring's current version: every new token is signed with it. */
  readonly current: SigningKey;
  /** Every version, current first then newest to oldest (the JWKS order). */
  readonly all: readonly SigningKey[];
  byKid(kid: string): SigningKey | undefined;
}

function deriveSigningKey(version: number, secret: Buffer): SigningKey {
  if (secret.length !== KEY_BYTES) throw new KeyringError(`key version ${version} must be ${KEY_BYTES} bytes`);
  const seed = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), JWT_SIGNING_KEY_LABEL, KEY_BYTES));
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  // The KeyObject holds its own copy; don't leave seed bytes lying around in heap buffers.
  der.fill(0);
  seed.fill(0);
  const publicKey = createPublicKey(privateKey);
  const { x } = publicKey.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new KeyringError(`key version ${version} did not yield an Ed25519 public key`);
  // RFC 7638: required members only, in lexicographic order, no whitespace.
  const thumbprint = createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url');
  const kid = `v${version}-${thumbprint.slice(0, KID_THUMBPRINT_CHARS)}`;
  const publicJwk: Ed25519PublicJwk = Object.freeze({ kty: 'OKP', crv: 'Ed25519', x, kid, alg: JWT_ALG, use: 'sig' });
  return Object.freeze({ version, kid, privateKey, publicKey, publicJwk });
}

// Keyed by the keyring object: a reloaded keyring is a new object and is derived afresh.
const cache = new WeakMap<Keyring, SigningKeys>();

/**
 * Derives every version once per keyring and up front, so a bad keyring stops the start, not a login.
 * The result follows the keyring: a version added while the process runs (rotation) is derived on the
 * next use and becomes `current` at once, while older versions keep verifying.
 */
export function signingKeysFor(keyring: Keyring): SigningKeys {
  const cached = cache.get(keyring);
  if (cached) return cached;
  const derived = new Map<number, SigningKey>();
  let state: { size: number; current: SigningKey; all: readonly SigningKey[]; kids: Map<string, SigningKey> } | undefined;
  const refresh = () => {
    if (state && state.size === keyring.versions.size) return state;
    for (const [version, secret] of keyring.versions) if (!derived.has(version)) derived.set(version, deriveSigningKey(version, secret));
    const current = derived.get(keyring.current);
    if (!current) throw new KeyringError(`current key version ${keyring.current} is not in the keyring`);
    const all = Object.freeze([current, ...[...derived.values()].filter((key) => key !== current).sort((a, b) => b.version - a.version)]);
    state = { size: keyring.versions.size, current, all, kids: new Map(all.map((key) => [key.kid, key])) };
    return state;
  };
  refresh();
  const keys: SigningKeys = {
    get current() {
      return refresh().current;
    },
    get all() {
      return refresh().all;
    },
    byKid: (kid) => refresh().kids.get(kid),
  };
  cache.set(keyring, keys);
  return keys;
}
