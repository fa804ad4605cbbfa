import { hkdfSync } from 'node:crypto';
import { KEY_BYTES, KeyringError, type Keyring } from './keyring.js';

/**
 * Purpose-bound keys derived from a keyring (HKDF-SHA-256, info = label). Each primitive derives its own
 * key, so a keyring configured by mistake for both encryption and blind indexes never makes one
 * primitive's key the other's.
 */
export interface Subkeys {
  /** The current version and its derived key: what new data is written with. */
  readonly current: { readonly version: number; readonly key: Buffer };
  /** Derived key of one version, or undefined when the keyring does not have it. */
  get(version: number): Buffer | undefined;
  /** Every version, current first then newest to oldest. */
  all(): ReadonlyArray<{ readonly version: number; readonly key: Buffer }>;
}

const MAX_VERSION = 0xffff_ffff;

const derive = (secret: Buffer, label: string) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), label, KEY_BYTES));

/**
 * Derives and checks every version up front, so a bad keyring stops the start, not the first request.
 * A version added to the keyring later (rotation at run time) is derived the first time it is asked for.
 */
export function createSubkeys(keyring: Keyring, label: string): Subkeys {
  const derived = new Map<number, Buffer>();
  const check = (version: number, secret: Buffer) => {
    // The envelope stores the version as uint32; anything else could not be written back.
    if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
      throw new KeyringError('key versions must be integers from 1 to 4294967295');
    }
    if (secret.length !== KEY_BYTES) throw new KeyringError(`key version ${version} must be ${KEY_BYTES} bytes`);
  };
  for (const [version, secret] of keyring.versions) {
    check(version, secret);
    derived.set(version, derive(secret, label));
  }
  if (!derived.has(keyring.current)) throw new KeyringError(`current key version ${keyring.current} is not in the keyring`);

  const get = (version: number): Buffer | undefined => {
    const known = derived.get(version);
    if (known) return known;
    const secret = keyring.versions.get(version);
    if (!secret) return undefined;
    check(version, secret);
    const key = derive(secret, label);
    derived.set(version, key);
    return key;
  };
  let ordered: Array<{ version: number; key: Buffer }> = [];
  let orderedFor = -1;
  const all = () => {
    // Recomputed only when the keyring grew: the common path is one comparison.
    if (orderedFor !== keyring.versions.size) {
      const versions = [...keyring.versions.keys()].sort((a, b) => b - a);
      ordered = versions.map((version) => ({ version, key: get(version)! }));
      orderedFor = keyring.versions.size;
    }
    return ordered;
  };
  return {
    get current() {
      // The keyring's highest version is current, so it is also the first of `all()`.
      return all()[0]!;
    },
    get,
    all,
  };
}
