import { createHmac } from 'node:crypto';
import type { Keyring } from './keyring.js';
import { createSubkeys } from './subkeys.js';
import { utf8Bytes } from './utf8.js';

/**
 * Keyed, deterministic fingerprints of sensitive values, so an encrypted column can still answer
 * equality lookups. It reveals which rows hold equal values, nothing else; it takes its own keyring
 * (BLIND_INDEX_KEY), never the encryption one.
 */
export interface BlindIndex {
  /** HMAC-SHA-256 of the (already normalised) value under the current key version: what to store. */
  compute(value: string, purpose: string): Buffer;
  /**
   * One index per key version, current first: look up with all of them while a rotation is moving rows
   * from the old version to the new.
   */
  computeAll(value: string, purpose: string): Buffer[];
}

/** HKDF label of the blind-index subkey; changing it orphans every stored index. */
export const BLIND_INDEX_KEY_LABEL = 'violentutf/blind-index/hmac-sha256/v1';

/**
 * The purpose goes in length-prefixed so "users.email" + "x" never collides with "users.emai" + "lx", and
 * so the same email in two columns gives indexes that cannot be joined.
 */
function indexOf(key: Buffer, value: string, purpose: string): Buffer {
  const purposeBytes = utf8Bytes(purpose);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(purposeBytes.length);
  return createHmac('sha256', key).update(length).update(purposeBytes).update(utf8Bytes(value)).digest();
}

function assertPurpose(purpose: string): void {
  if (typeof purpose !== 'string' || purpose.length === 0) throw new TypeError('blind index purpose must be a non-empty string');
}

export function createBlindIndex(keyring: Keyring): BlindIndex {
  const keys = createSubkeys(keyring, BLIND_INDEX_KEY_LABEL);
  return {
    compute(value, purpose) {
      assertPurpose(purpose);
      return indexOf(keys.current.key, value, purpose);
    },
    computeAll(value, purpose) {
      assertPurpose(purpose);
      return keys.all().map(({ key }) => indexOf(key, value, purpose));
    },
  };
}

/**
 * The canonical form of an email for lookups and uniqueness: compatibility-normalised (full-width and
 * ligature look-alikes fold), trimmed and lower-cased. Applied again after lower-casing because a
 * lower-case mapping may leave text that is no longer NFKC.
 */
export function normaliseEmail(email: string): string {
  return email.normalize('NFKC').trim().toLowerCase().normalize('NFKC');
}
