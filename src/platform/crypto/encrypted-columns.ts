import type { CipherContext, FieldCipher } from './aead.js';
import { IntegrityError } from './crypto.errors.js';
import { utf8Text } from './utf8.js';

/** How a column's plaintext is turned into bytes before sealing: UTF-8 text, raw bytes, or JSON. */
export type ColumnKind = 'text' | 'bytes' | 'json';

/** camelCase column name → kind, as a repository declares it once for its table. */
export type ColumnSpec = Readonly<Record<string, ColumnKind>>;

/** What seal accepts for a column of this kind. */
export type PlainInput<K extends ColumnKind> = K extends 'text' ? string : K extends 'bytes' ? Uint8Array : unknown;

/** What open gives back for a column of this kind (json: parse result, to be validated by the caller). */
export type PlainOutput<K extends ColumnKind> = K extends 'text' ? string : K extends 'bytes' ? Buffer : unknown;

/** Values a repository may seal: any subset of the declared columns; null clears a column. */
export type SealInput<S extends ColumnSpec> = { readonly [C in keyof S]?: PlainInput<S[C]> | null };

// unknown first: a json value typed unknown may be null at run time, which stays null.
type SealedValue<T> = unknown extends T ? Buffer | null : T extends null ? null : T extends undefined ? undefined : Buffer;

/** The sealed form of exactly the columns given to seal: envelopes, with null and undefined kept. */
export type Sealed<V> = { -readonly [C in keyof V]: SealedValue<V[C]> };

// Distributes over the column's type, so Buffer | null becomes string | null for a text column.
type OpenedValue<T, P> = T extends Uint8Array ? P : T;

/** A row with its declared columns decrypted; other fields untouched, SQL NULL stays null. */
export type Opened<R, S extends ColumnSpec> = {
  [K in keyof R]: K extends keyof S ? OpenedValue<R[K], PlainOutput<S[K]>> : R[K];
};

/** The one place a repository says which of its columns are encrypted, and how to seal and open them. */
export interface EncryptedColumns<S extends ColumnSpec> {
  readonly table: string;
  readonly columns: readonly (keyof S & string)[];
  /** Seals the given columns for one row; throws TypeError for an undeclared column or a wrong-typed value. */
  seal<V extends SealInput<S>>(rowId: string, values: V & Record<Exclude<keyof V, keyof S>, never>): Sealed<V>;
  /** Decrypts the declared columns present in the row; throws IntegrityError if any fails to open. */
  open<R extends { id: string }>(row: R): Opened<R, S>;
}

const KINDS: ReadonlySet<string> = new Set<ColumnKind>(['text', 'bytes', 'json']);

function encode(kind: ColumnKind, column: string, value: unknown): Uint8Array | string {
  switch (kind) {
    case 'text':
      if (typeof value !== 'string') throw new TypeError(`column ${column} is text and takes a string`);
      return value;
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw new TypeError(`column ${column} is bytes and takes a Buffer or Uint8Array`);
      return value;
    case 'json': {
      // JSON.stringify escapes lone surrogates, so any JSON value survives; undefined and functions do not.
      const text = JSON.stringify(value) as string | undefined;
      if (text === undefined) throw new TypeError(`column ${column} is json and takes a JSON-serialisable value`);
      return text;
    }
  }
}

function decode(kind: ColumnKind, bytes: Buffer): unknown {
  if (kind === 'bytes') return bytes;
  try {
    const text = utf8Text(bytes);
    // Plain JSON.parse on purpose: stored evidence may legitimately hold "__proto__" keys, and parse
    // makes them own properties, which only a later Object.assign-style merge could abuse.
    return kind === 'text' ? text : (JSON.parse(text) as unknown);
  } catch {
    // Authentic bytes that do not decode were sealed as another kind: refuse rather than guess.
    throw new IntegrityError('invalid_content');
  }
}

/**
 * The additional data binds the table name as given here and the column name exactly as declared in
 * the spec (camelCase, not the SQL snake_case name): renaming either is a data migration, not a refactor.
 */
export function encryptedColumns<const S extends ColumnSpec>(cipher: FieldCipher, table: string, spec: S): EncryptedColumns<S> {
  // A Map, not the spec object: "constructor" or "toString" must never pass as declared columns.
  const kinds = new Map<string, ColumnKind>(Object.entries(spec));
  if (table.length === 0) throw new TypeError('encrypted columns need a table name');
  if (kinds.size === 0) throw new TypeError(`table ${table} declares no encrypted columns`);
  for (const [column, kind] of kinds) {
    if (!KINDS.has(kind)) throw new TypeError(`column ${column} of ${table} has an unknown kind`);
  }
  // The row id is the additional data of every other column, so it must stay readable.
  if (kinds.has('id')) throw new TypeError(`the id column of ${table} cannot be encrypted`);
  const columns = [...kinds.keys()] as (keyof S & string)[];

  const contextOf = (rowId: string, column: string): CipherContext => ({ table, column, rowId });

  // Untyped inside: the interface computes the precise per-call types, which TypeScript cannot check
  // against a loop over Object.entries anyway.
  const seal = (rowId: string, values: Readonly<Record<string, unknown>>): Record<string, Buffer | null> => {
    const sealed: Record<string, Buffer | null> = {};
    for (const [column, value] of Object.entries(values)) {
      const kind = kinds.get(column);
      if (!kind) throw new TypeError(`column ${column} is not declared encrypted on ${table}`);
      if (value === undefined) continue;
      sealed[column] = value === null ? null : cipher.encrypt(encode(kind, column, value), contextOf(rowId, column));
    }
    return sealed;
  };

  const open = (row: { readonly id: string }): Record<string, unknown> => {
    if (typeof row.id !== 'string') throw new TypeError(`rows of ${table} must be selected with their id to be opened`);
    const opened: Record<string, unknown> = { ...row };
    for (const [column, kind] of kinds) {
      const value = opened[column];
      if (value === null || value === undefined) continue;
      // A string here means the row was opened twice or the column was never sealed: never pass it on.
      if (!(value instanceof Uint8Array)) throw new IntegrityError('malformed');
      opened[column] = decode(kind, cipher.decrypt(value, contextOf(row.id, column)));
    }
    return opened;
  };

  return { table, columns, seal: seal as EncryptedColumns<S>['seal'], open: open as EncryptedColumns<S>['open'] };
}
