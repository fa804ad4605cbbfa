import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIELD_CIPHER_KEY_LABEL } from './aead.js';
import { BLIND_INDEX_KEY_LABEL, createBlindIndex, normaliseEmail } from './blind-index.js';
import { createKeyring, type Keyring } from './keyring.js';

const keyringOf = (entries: [number, Buffer][]): Keyring => createKeyring(new Map(entries));
const hex = (buffers: Buffer[]) => buffers.map((buffer) => buffer.toString('hex'));

describe('createBlindIndex', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const index = createBlindIndex(keyringOf([[1, k1]]));

  it('is deterministic: equal values give equal 32-byte indexes, across instances', () => {
    const again = createBlindIndex(keyringOf([[1, k1]]));
    fc.assert(
      fc.property(fc.string(), (value) => {
        const computed = index.compute(value, 'users.email');
        expect(computed).toHaveLength(32);
        expect(again.compute(value, 'users.email').equals(computed)).toBe(true);
      }),
    );
  });

  it('separates distinct values', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a !== b);
        expect(index.compute(a, 'users.email').equals(index.compute(b, 'users.email'))).toBe(false);
      }),
    );
  });

  it('gives unrelated indexes for the same value under two purposes', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        expect(index.compute(value, 'users.email').equals(index.compute(value, 'invitations.email'))).toBe(false);
      }),
    );
  });

  it('does not let the purpose/value boundary shift', () => {
    expect(index.compute('lx', 'users.emai').equals(index.compute('x', 'users.email'))).toBe(false);
  });

  it('depends on the key', () => {
    const other = createBlindIndex(keyringOf([[1, k2]]));
    expect(other.compute('alice@example.com', 'users.email').equals(index.compute('alice@example.com', 'users.email'))).toBe(false);
  });

  describe('construction', () => {
    const message = (purpose: string, value: string) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(Buffer.byteLength(purpose));
      return Buffer.concat([length, Buffer.from(purpose), Buffer.from(value)]);
    };
    const subkey = (label: string) => Buffer.from(hkdfSync('sha256', k1, Buffer.alloc(0), label, 32));
    const hmac = (key: Buffer) => createHmac('sha256', key).update(message('users.email', 'alice@example.com')).digest();
    const computed = () => index.compute('alice@example.com', 'users.email');

    it('is HMAC-SHA-256 under HKDF(secret, blind-index label) of len(purpose) ‖ purpose ‖ value', () => {
      expect(computed().equals(hmac(subkey(BLIND_INDEX_KEY_LABEL)))).toBe(true);
    });

    it('never keys the HMAC with the raw secret or the field-cipher subkey, even when both share a keyring', () => {
      expect(computed().equals(hmac(k1))).toBe(false);
      expect(computed().equals(hmac(subkey(FIELD_CIPHER_KEY_LABEL)))).toBe(false);
    });
  });

  it('rejects an empty purpose and a value with a lone surrogate', () => {
    expect(() => index.compute('v', '')).toThrow(TypeError);
    expect(() => index.computeAll('v', '')).toThrow(TypeError);
    // Both would be encoded to the same U+FFFD bytes and so collide.
    expect(() => index.compute('a\uD800', 'p')).toThrow(TypeError);
  });

  describe('rotation', () => {
    const during = createBlindIndex(keyringOf([[2, k2], [1, k1], [3, randomBytes(32)]]));

    it('computeAll returns one index per version, current first then newest to oldest', () => {
      const all = during.computeAll('alice@example.com', 'users.email');
      expect(all).toHaveLength(3);
      expect(all[0]?.equals(during.compute('alice@example.com', 'users.email'))).toBe(true);
      const only = (version: number, secret: Buffer) => createBlindIndex(keyringOf([[version, secret]])).compute('alice@example.com', 'users.email');
      expect(all[1]?.equals(only(2, k2))).toBe(true);
      expect(all[2]?.equals(only(1, k1))).toBe(true);
    });

    it('finds a row indexed before the rotation among the lookup candidates', () => {
      const stored = index.compute('alice@example.com', 'users.email');
      expect(hex(during.computeAll('alice@example.com', 'users.email'))).toContain(stored.toString('hex'));
      expect(during.compute('alice@example.com', 'users.email').equals(stored)).toBe(false);
    });

    it('computeAll with a single version is just compute', () => {
      expect(hex(index.computeAll('x', 'p'))).toEqual(hex([index.compute('x', 'p')]));
    });
  });
});

describe('normaliseEmail', () => {
  it.each([
    ['  Alice@Example.COM \n', 'alice@example.com'],
    ['ＡＬＩＣＥ＠ｅｘａｍｐｌｅ．ｃｏｍ', 'alice@example.com'],
    ['\u00a0bob@example.com\u3000', 'bob@example.com'],
    ['ﬁona@example.com', 'fiona@example.com'],
    ['\u212Aelvin@example.com', 'kelvin@example.com'],
    ['Ze\u0301 @example.com', 'zé @example.com'],
    // No precomposed capital H with macron below exists, but "ẖ" does: lower-casing must be followed by NFKC.
    ['H\u0331@example.com', '\u1e96@example.com'],
    ['J\u030C@example.com', '\u01f0@example.com'],
  ])('normalises %j to %j', (input, expected) => {
    expect(normaliseEmail(input)).toBe(expected);
  });

  it('is idempotent, so normalising twice never changes an index', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (email) => {
        const once = normaliseEmail(email);
        expect(normaliseEmail(once)).toBe(once);
      }),
      { numRuns: 2000 },
    );
  });

  it('makes look-alike spellings hit the same blind index', () => {
    const index = createBlindIndex(keyringOf([[1, randomBytes(32)]]));
    const a = index.compute(normaliseEmail(' ALICE@example.com'), 'users.email');
    const b = index.compute(normaliseEmail('ａｌｉｃｅ@EXAMPLE.com'), 'users.email');
    expect(a.equals(b)).toBe(true);
  });
});
