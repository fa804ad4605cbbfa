import { createCipheriv, createDecipheriv } from 'node:crypto';
import { IntegrityError } from './crypto.errors.js';
import type { Keyring } from './keyring.js';
import { createSubkeys } from './subkeys.js';
import { utf8Bytes } from './utf8.js';
import { pooledRandomBytes } from './random-pool.js';

/** Where a sealed value lives. Bound into the ciphertext so a value moved elsewhere no longer opens. */
export interface CipherContext {
  readonly table: string;
  readonly column: string;
  readonly rowId: string;
}

/** AES-256-GCM for single column values; see README.md for the envelope layout. */
export interface FieldCipher {
  /** Seals with the keyring's current version and a fresh random nonce. */
  encrypt(plaintext: Uint8Array | string, context: CipherContext): Buffer;
  /** Opens with the version named in the envelope; throws IntegrityError on any failure. */
  decrypt(envelope: Uint8Array, context: CipherContext): Buffer;
  /**
   * The key version an envelope claims, for re-encryption sweeps during rotation. Unauthenticated until
   * decrypt succeeds: use it to pick rows, never to trust them.
   */
  keyVersionOf(envelope: Uint8Array): number;
}

export const ENVELOPE_FORMAT = 1;
const VERSION_BYTES = 4;
const HEADER_BYTES = 1 + VERSION_BYTES;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const MIN_ENVELOPE_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

/** HKDF label of the encryption subkey; changing it makes every stored envelope unreadable. */
export const FIELD_CIPHER_KEY_LABEL = 'violentutf/field-cipher/aes-256-gcm/v1';

/**
 * Additional data: the envelope header, then table, column and row id each prefixed by its uint32 byte
 * length, so ("a:b", "c") and ("a", "b:c") can never authenticate as each other.
 */
function additionalData(header: Uint8Array, context: CipherContext): Buffer {
  const parts: Uint8Array[] = [header];
  for (const field of [context.table, context.column, context.rowId]) {
    const bytes = utf8Bytes(field);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}

function assertContext(context: CipherContext): void {
  // An empty row id usually means the id was not generated yet, and sealing would bind to nothing.
  for (const [name, value] of Object.entries({ table: context.table, column: context.column, rowId: context.rowId })) {
    if (typeof value !== 'string' || value.length === 0) throw new TypeError(`cipher context ${name} must be a non-empty string`);
  }
}

// A view, not a copy: PGlite hands bytea back as Uint8Array, pg as Buffer.
const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function readVersion(envelope: Buffer): number {
  if (envelope.length < MIN_ENVELOPE_BYTES || envelope[0] !== ENVELOPE_FORMAT) throw new IntegrityError('malformed');
  return envelope.readUInt32BE(1);
}

export function createFieldCipher(keyring: Keyring): FieldCipher {
  const keys = createSubkeys(keyring, FIELD_CIPHER_KEY_LABEL);

  return {
    encrypt(plaintext, context) {
      assertContext(context);
      const bytes = typeof plaintext === 'string' ? utf8Bytes(plaintext) : plaintext;
      const { version, key } = keys.current;
      const header = Buffer.alloc(HEADER_BYTES);
      header[0] = ENVELOPE_FORMAT;
      header.writeUInt32BE(version, 1);
      // Random 96-bit nonces are safe for about 2^32 encryptions per key; rotation keeps us far below.
      const nonce = pooledRandomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(additionalData(header, context));
      const body = Buffer.concat([cipher.update(bytes), cipher.final()]);
      return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
    },

    decrypt(envelope, context) {
      const sealed = asBuffer(envelope);
      const version = readVersion(sealed);
      const key = keys.get(version);
      if (!key) throw new IntegrityError('unknown_key_version');
      const nonce = sealed.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
      const body = sealed.subarray(HEADER_BYTES + NONCE_BYTES, sealed.length - TAG_BYTES);
      const tag = sealed.subarray(sealed.length - TAG_BYTES);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAuthTag(tag);
        decipher.setAAD(additionalData(sealed.subarray(0, HEADER_BYTES), context));
        // update() output is unauthenticated until final() passes, so nothing is returned before it.
        const plaintext = decipher.update(body);
        return Buffer.concat([plaintext, decipher.final()]);
      } catch {
        // The library error says nothing more useful and must not decide what reaches a log.
        throw new IntegrityError('authentication_failed');
      }
    },

    keyVersionOf(envelope) {
      return readVersion(asBuffer(envelope));
    },
  };
}
