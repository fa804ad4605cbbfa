import { createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIELD_CIPHER_KEY_LABEL, createFieldCipher, type CipherContext } from './aead.js';
import { IntegrityError } from './crypto.errors.js';
import { KeyringError, createKeyring, generateKeyring, type Keyring } from './keyring.js';

const ctx: CipherContext = { table: 'users', column: 'email', rowId: '01890a5d-ac96-774b-bcce-b302099a8057' };
const keyringOf = (entries: [number, Buffer][]): Keyring => createKeyring(new Map(entries));

/** Opens an envelope from the layout documented in README.md alone, to pin the wire format. */
function referenceDecrypt(secret: Buffer, envelope: Buffer, context: CipherContext): Buffer {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), FIELD_CIPHER_KEY_LABEL, 32));
  const lengthPrefixed = (text: string) => {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const aad = Buffer.concat([envelope.subarray(0, 5), lengthPrefixed(context.table), lengthPrefixed(context.column), lengthPrefixed(context.rowId)]);
  const decipher = createDecipheriv('aes-256-gcm', key, envelope.subarray(5, 17));
  decipher.setAAD(aad);
  decipher.setAuthTag(envelope.subarray(envelope.length - 16));
  return Buffer.concat([decipher.update(envelope.subarray(17, envelope.length - 16)), decipher.final()]);
}

function expectIntegrityError(action: () => unknown, reason?: IntegrityError['reason']): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(IntegrityError);
  if (reason) expect((caught as IntegrityError).reason).toBe(reason);
}

describe('createFieldCipher', () => {
  const secret = randomBytes(32);
  const cipher = createFieldCipher(keyringOf([[7, secret]]));

  describe('round trip', () => {
    it('returns exactly the bytes it sealed, for any byte array including the empty one', () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 2048 }), (bytes) => {
          const plaintext = Buffer.from(bytes);
          expect(cipher.decrypt(cipher.encrypt(plaintext, ctx), ctx).equals(plaintext)).toBe(true);
        }),
      );
    });

    it('returns the UTF-8 of any well-formed string', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary' }), (text) => {
          expect(cipher.decrypt(cipher.encrypt(text, ctx), ctx).toString('utf8')).toBe(text);
        }),
      );
    });

    it('keeps NUL, encoded lone-surrogate bytes and invalid UTF-8 byte for byte', () => {
      const awkward = Buffer.from([0x00, 0x61, 0x00, 0xed, 0xa0, 0x80, 0xed, 0xbf, 0xbf, 0xff, 0xfe, 0xc0, 0x80, 0x00]);
      expect(cipher.decrypt(cipher.encrypt(awkward, ctx), ctx).equals(awkward)).toBe(true);
      expect(cipher.decrypt(cipher.encrypt('a\u0000b\u0000', ctx), ctx).toString('utf8')).toBe('a\u0000b\u0000');
    });

    it('handles values over 1 MiB', () => {
      const large = randomBytes(1024 * 1024 + 17);
      const envelope = cipher.encrypt(large, ctx);
      expect(envelope.length).toBe(large.length + 33);
      expect(cipher.decrypt(envelope, ctx).equals(large)).toBe(true);
    });

    it('accepts a Uint8Array that is a view into a larger buffer (PGlite returns bytea that way)', () => {
      const envelope = cipher.encrypt('hello', ctx);
      const backing = new Uint8Array(envelope.length + 10);
      backing.set(envelope, 5);
      const view = backing.subarray(5, 5 + envelope.length);
      expect(cipher.decrypt(view, ctx).toString('utf8')).toBe('hello');
      expect(cipher.keyVersionOf(view)).toBe(7);
    });

    it('refuses a string with a lone surrogate instead of storing U+FFFD in its place', () => {
      expect(() => cipher.encrypt('a\uD800b', ctx)).toThrow(TypeError);
      expect(() => cipher.encrypt('\uDC00', ctx)).toThrow(TypeError);
      expect(cipher.decrypt(cipher.encrypt('😀', ctx), ctx).toString('utf8')).toBe('😀');
    });
  });

  describe('envelope', () => {
    it('is format byte, uint32 BE version, 12-byte nonce, ciphertext, 16-byte tag', () => {
      const envelope = cipher.encrypt('hello', ctx);
      expect(envelope.length).toBe(1 + 4 + 12 + 5 + 16);
      expect(envelope[0]).toBe(1);
      expect(envelope.readUInt32BE(1)).toBe(7);
      expect(referenceDecrypt(secret, envelope, ctx).toString('utf8')).toBe('hello');
    });

    it('uses a fresh nonce for every encryption', () => {
      const nonces = new Set<string>();
      for (let i = 0; i < 200; i += 1) nonces.add(cipher.encrypt('same', ctx).subarray(5, 17).toString('hex'));
      expect(nonces.size).toBe(200);
    });
  });

  describe('tamper', () => {
    const envelope = cipher.encrypt('attack evidence', ctx);
    const flip = (index: number, mask = 0x01) => {
      const copy = Buffer.from(envelope);
      copy[index] = (copy[index] ?? 0) ^ mask;
      return copy;
    };
    const regions = {
      format: [0, 1, 'malformed'],
      version: [1, 5, 'unknown_key_version'],
      nonce: [5, 17, 'authentication_failed'],
      ciphertext: [17, envelope.length - 16, 'authentication_failed'],
      tag: [envelope.length - 16, envelope.length, 'authentication_failed'],
    } as const;

    it.each(Object.entries(regions))('rejects any flipped bit in the %s', (_region, [start, end, reason]) => {
      for (let index = start; index < end; index += 1) {
        for (let bit = 0; bit < 8; bit += 1) expectIntegrityError(() => cipher.decrypt(flip(index, 1 << bit), ctx), reason);
      }
    });

    it('rejects any change of any byte of any envelope', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, mask) => {
          const sealed = cipher.encrypt(Buffer.from(bytes), ctx);
          const index = at % sealed.length;
          sealed[index] = (sealed[index] ?? 0) ^ mask;
          expectIntegrityError(() => cipher.decrypt(sealed, ctx));
        }),
      );
    });

    it('rejects every truncation and any extension', () => {
      for (let length = 0; length < envelope.length; length += 1) {
        expectIntegrityError(() => cipher.decrypt(envelope.subarray(0, length), ctx));
      }
      expectIntegrityError(() => cipher.decrypt(Buffer.concat([envelope, Buffer.from([0])]), ctx), 'authentication_failed');
      expectIntegrityError(() => cipher.keyVersionOf(envelope.subarray(0, 32)), 'malformed');
      expectIntegrityError(() => cipher.keyVersionOf(flip(0)), 'malformed');
    });

    it('rejects an envelope sealed under another key with the same version number', () => {
      const other = createFieldCipher(keyringOf([[7, randomBytes(32)]]));
      expectIntegrityError(() => cipher.decrypt(other.encrypt('x', ctx), ctx), 'authentication_failed');
    });
  });

  describe('context binding', () => {
    const envelope = cipher.encrypt('secret', ctx);

    it.each([
      ['table', { ...ctx, table: 'orgs' }],
      ['column', { ...ctx, column: 'displayName' }],
      ['row id', { ...ctx, rowId: '01890a5d-ac96-774b-bcce-b302099a8058' }],
      ['case of a name', { ...ctx, column: 'Email' }],
    ])('rejects a value moved to another %s', (_what, moved) => {
      expectIntegrityError(() => cipher.decrypt(envelope, moved), 'authentication_failed');
    });

    it.each([
      [{ table: 'a:b', column: 'c', rowId: 'r' }, { table: 'a', column: 'b:c', rowId: 'r' }],
      [{ table: 'ab', column: 'c', rowId: 'r' }, { table: 'a', column: 'bc', rowId: 'r' }],
      [{ table: 't', column: 'c\u0000', rowId: 'r' }, { table: 't', column: 'c', rowId: '\u0000r' }],
    ])('does not confuse contexts that concatenate alike: %o vs %o', (sealedFor, openedAs) => {
      const sealed = cipher.encrypt('x', sealedFor);
      expect(cipher.decrypt(sealed, sealedFor).toString()).toBe('x');
      expectIntegrityError(() => cipher.decrypt(sealed, openedAs), 'authentication_failed');
    });

    it('refuses to seal for an empty table, column or row id', () => {
      expect(() => cipher.encrypt('x', { ...ctx, rowId: '' })).toThrow(TypeError);
      expect(() => cipher.encrypt('x', { ...ctx, table: '' })).toThrow(TypeError);
      expect(() => cipher.encrypt('x', { ...ctx, column: '' })).toThrow(TypeError);
    });
  });

  describe('rotation', () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const before = createFieldCipher(keyringOf([[1, k1]]));
    const during = createFieldCipher(keyringOf([[1, k1], [2, k2]]));
    const old = before.encrypt('written before rotation', ctx);

    it('still opens envelopes of the previous version and reports their version', () => {
      expect(during.keyVersionOf(old)).toBe(1);
      expect(during.decrypt(old, ctx).toString()).toBe('written before rotation');
    });

    it('seals new values with the current version only', () => {
      const fresh = during.encrypt('written after', ctx);
      expect(during.keyVersionOf(fresh)).toBe(2);
      expect(fresh.readUInt32BE(1)).toBe(2);
      expect(referenceDecrypt(k2, fresh, ctx).toString()).toBe('written after');
    });

    it('rejects a version the keyring does not hold, in either direction', () => {
      expectIntegrityError(() => before.decrypt(during.encrypt('new', ctx), ctx), 'unknown_key_version');
      const after = createFieldCipher(keyringOf([[2, k2]]));
      expectIntegrityError(() => after.decrypt(old, ctx), 'unknown_key_version');
    });
  });

  describe('errors', () => {
    it('never put plaintext, key material or context in the message', () => {
      const plaintext = 'patient record 4711';
      const sealed = cipher.encrypt(plaintext, ctx);
      sealed[20] = (sealed[20] ?? 0) ^ 1;
      let caught: unknown;
      try {
        cipher.decrypt(sealed, ctx);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(IntegrityError);
      const error = caught as IntegrityError;
      expect(error.name).toBe('IntegrityError');
      const printed = `${error.message} ${String(error)} ${JSON.stringify(error)}`;
      for (const secretForm of [plaintext, secret.toString('hex'), secret.toString('base64'), sealed.toString('hex'), ctx.rowId]) {
        expect(printed).not.toContain(secretForm);
      }
      expect(error.cause).toBeUndefined();
    });

    it('refuses a keyring with a key of the wrong size or a version that does not fit uint32', () => {
      expect(() => createFieldCipher(keyringOf([[1, randomBytes(16)]]))).toThrow(KeyringError);
      expect(() => createFieldCipher(keyringOf([[2 ** 32, randomBytes(32)]]))).toThrow(KeyringError);
      expect(() => createFieldCipher(generateKeyring(3))).not.toThrow();
    });
  });
});
