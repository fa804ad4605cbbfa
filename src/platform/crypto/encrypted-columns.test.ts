import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createFieldCipher } from './aead.js';
import { IntegrityError } from './crypto.errors.js';
import { encryptedColumns } from './encrypted-columns.js';
import { createKeyring } from './keyring.js';

const cipher = createFieldCipher(createKeyring(new Map([[1, randomBytes(32)]])));
const users = encryptedColumns(cipher, 'users', { email: 'text', avatar: 'bytes', preferences: 'json' });
const rowA = '01890a5d-ac96-774b-bcce-b302099a8057';
const rowB = '01890a5d-ac96-774b-bcce-b302099a8058';

/** The shape a repository reads back from the database. */
interface UserRow {
  id: string;
  displayName: string;
  email: Buffer;
  avatar: Buffer | null;
  preferences: Buffer | null;
}

const rowOf = (id: string, sealed: Partial<Record<'email' | 'avatar' | 'preferences', Buffer | null>>): UserRow => ({
  id,
  displayName: 'Alice',
  email: sealed.email ?? Buffer.alloc(0),
  avatar: sealed.avatar ?? null,
  preferences: sealed.preferences ?? null,
});

describe('encryptedColumns', () => {
  it('lists the declared columns', () => {
    expect(users.columns).toEqual(['email', 'avatar', 'preferences']);
    expect(users.table).toBe('users');
  });

  it('seals only what it is given and opens it back, leaving other fields alone', () => {
    const avatar = Buffer.from([0, 255, 0xed, 0xa0, 0x80]);
    const sealed = users.seal(rowA, { email: 'alice@example.com', avatar, preferences: { theme: 'dark', tags: ['x'], n: null } });
    expect(Object.keys(sealed).sort()).toEqual(['avatar', 'email', 'preferences']);
    for (const value of Object.values(sealed)) expect(Buffer.isBuffer(value)).toBe(true);
    expect(sealed.email.includes(Buffer.from('alice'))).toBe(false);

    const opened = users.open(rowOf(rowA, sealed));
    expect(opened).toEqual({
      id: rowA,
      displayName: 'Alice',
      email: 'alice@example.com',
      avatar,
      preferences: { theme: 'dark', tags: ['x'], n: null },
    });
  });

  it('round-trips any text, bytes and JSON value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.uint8Array(), fc.jsonValue(), (email, avatar, preferences) => {
        const opened = users.open(rowOf(rowA, users.seal(rowA, { email, avatar, preferences })));
        expect(opened.email).toBe(email);
        expect(Buffer.from(avatar).equals(opened.avatar ?? Buffer.alloc(1))).toBe(true);
        // JSON has no -0: compare what JSON itself would give back.
        expect(opened.preferences).toEqual(JSON.parse(JSON.stringify(preferences)));
      }),
    );
  });

  it('keeps a "__proto__" key of stored evidence as data without touching prototypes', () => {
    const evidence: unknown = JSON.parse('{"__proto__": {"polluted": true}, "payload": "x"}');
    const opened = users.open(rowOf(rowA, users.seal(rowA, { email: 'a', preferences: evidence })));
    expect(Object.keys(opened.preferences as object)).toEqual(['__proto__', 'payload']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps null as null (SQL NULL) and leaves absent columns absent', () => {
    const sealed = users.seal(rowA, { email: 'a@example.com', avatar: null });
    expect(sealed.avatar).toBeNull();
    expect('preferences' in sealed).toBe(false);
    const opened = users.open({ id: rowA, email: sealed.email, avatar: null });
    expect(opened).toEqual({ id: rowA, email: 'a@example.com', avatar: null });
  });

  it('accepts bytea as a Uint8Array view (PGlite) as well as a Buffer (pg)', () => {
    const sealed = users.seal(rowA, { email: 'a@example.com' });
    const backing = new Uint8Array(sealed.email.length + 8);
    backing.set(sealed.email, 8);
    expect(users.open({ id: rowA, email: backing.subarray(8) }).email).toBe('a@example.com');
  });

  describe('binding', () => {
    const sealed = users.seal(rowA, { email: 'alice@example.com', preferences: { admin: false } });

    it('rejects a sealed value copied to another row id', () => {
      expect(() => users.open(rowOf(rowB, sealed))).toThrow(IntegrityError);
    });

    it('rejects a sealed value moved to another column of the same kind', () => {
      const twoTexts = encryptedColumns(cipher, 'users', { email: 'text', phone: 'text' });
      const moved = { id: rowA, phone: twoTexts.seal(rowA, { email: 'alice@example.com' }).email };
      expect(() => twoTexts.open(moved)).toThrow(IntegrityError);
    });

    it('rejects a sealed value moved to the same column of another table', () => {
      const invitations = encryptedColumns(cipher, 'invitations', { email: 'text' });
      expect(() => invitations.open({ id: rowA, email: sealed.email })).toThrow(IntegrityError);
    });

    it('rejects authentic bytes that do not decode as the column kind', () => {
      const invalidUtf8 = cipher.encrypt(Buffer.from([0xff, 0xfe]), { table: 'users', column: 'email', rowId: rowA });
      expect(() => users.open({ id: rowA, email: invalidUtf8 })).toThrow(IntegrityError);
      const notJson = cipher.encrypt('{not json', { table: 'users', column: 'preferences', rowId: rowA });
      expect(() => users.open({ id: rowA, preferences: notJson })).toThrow(IntegrityError);
    });

    it('rejects a row that was already opened instead of passing plaintext through', () => {
      const opened = users.open(rowOf(rowA, sealed));
      expect(() => users.open(opened as unknown as UserRow)).toThrow(IntegrityError);
    });
  });

  describe('misuse', () => {
    it('refuses undeclared columns, including inherited property names', () => {
      const loose = users.seal as (rowId: string, values: Record<string, unknown>) => unknown;
      expect(() => loose(rowA, { displayName: 'Alice' })).toThrow(TypeError);
      expect(() => loose(rowA, { constructor: 'x' })).toThrow(TypeError);
    });

    it('refuses values of the wrong kind', () => {
      const loose = users.seal as (rowId: string, values: Record<string, unknown>) => unknown;
      expect(() => loose(rowA, { email: 42 })).toThrow(TypeError);
      expect(() => loose(rowA, { avatar: 'not bytes' })).toThrow(TypeError);
      expect(() => loose(rowA, { preferences: () => 1 })).toThrow(TypeError);
      expect(() => users.seal(rowA, { email: 'lone \uD800' })).toThrow(TypeError);
    });

    it('refuses to open a row selected without its id', () => {
      const sealed = users.seal(rowA, { email: 'a' });
      expect(() => users.open({ email: sealed.email } as unknown as UserRow)).toThrow(TypeError);
    });

    it('refuses a spec with no columns, an unknown kind, an encrypted id or no table', () => {
      expect(() => encryptedColumns(cipher, 'users', {})).toThrow(TypeError);
      expect(() => encryptedColumns(cipher, 'users', { email: 'txt' as 'text' })).toThrow(TypeError);
      expect(() => encryptedColumns(cipher, 'users', { id: 'text' })).toThrow(TypeError);
      expect(() => encryptedColumns(cipher, '', { email: 'text' })).toThrow(TypeError);
    });
  });

  it('types seal and open precisely (checked by tsc)', () => {
    const sealed = users.seal(rowA, { email: 'a', avatar: null });
    expectTypeOf(sealed).toEqualTypeOf<{ email: Buffer; avatar: null }>();
    const partial: { email?: string | null } = {};
    const maybe = users.seal(rowA, partial);
    expectTypeOf(maybe).toEqualTypeOf<{ email?: Buffer | null | undefined }>();

    const opened = users.open(rowOf(rowA, users.seal(rowA, { email: 'a' })));
    expectTypeOf(opened).toEqualTypeOf<{
      id: string;
      displayName: string;
      email: string;
      avatar: Buffer | null;
      preferences: unknown;
    }>();
    expectTypeOf(users.open<{ id: string; email: Uint8Array | null }>).returns.toEqualTypeOf<{ id: string; email: string | null }>();
    expectTypeOf(users.columns).toEqualTypeOf<readonly ('email' | 'avatar' | 'preferences')[]>();

    // @ts-expect-error: a column that is not declared encrypted
    expect(() => users.seal(rowA, { email: 'a', displayName: 'x' })).toThrow(TypeError);
    // @ts-expect-error: a text column takes a string
    expect(() => users.seal(rowA, { email: 42 })).toThrow(TypeError);
  });
});
