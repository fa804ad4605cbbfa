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

/** Derives and checks every version up front, so a bad keyring stops the start, not the first request. */
export function createSubkeys(keyring: Keyring, label: string): Subkeys {
  const derived = new Map<number, Buffer>();
  for (const [version, secret] of keyring.versions) {
    // The envelope stores the version as uint32; anything else could not be written back.
    if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
      throw new KeyringError('key versions must be integers from 1 to 4294967295');
    }
    if (secret.length !== KEY_BYTES) throw new KeyringError(`key version ${version} must be ${KEY_BYTES} bytes`);
    derived.set(version, Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), label, KEY_BYTES)));
  }
  const currentKey = derived.get(keyring.current);
  if (!currentKey) throw new KeyringError(`current key version ${keyring.current} is not in the keyring`);
  const current = { version: keyring.current, key: currentKey };
  const older = [...derived]
    .filter(([version]) => version !== current.version)
    .sort(([a], [b]) => b - a)
    .map(([version, key]) => ({ version, key }));
  const ordered = [current, ...older];
  return { current, get: (version) => derived.get(version), all: () => ordered };
}
