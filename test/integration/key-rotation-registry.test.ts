import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BLIND_INDEX_COLUMNS, ENVELOPE_COLUMNS, NOT_KEYED_BYTEA } from '../../src/modules/keys/key-registry.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import type * as EncryptedColumnsModule from '../../src/platform/crypto/encrypted-columns.js';

/**
 * The key registry is the rotation's whole world: a column missing from it would silently stay on an
 * old key forever. So it is checked against what each repository declares (every `encryptedColumns`
 * call the fully built container makes) and against every bytea column of the migrated schema.
 */

const declared = vi.hoisted(() => new Map<string, Set<string>>());

vi.mock('../../src/platform/crypto/encrypted-columns.js', async (importOriginal) => {
  const original = await importOriginal<typeof EncryptedColumnsModule>();
  return {
    ...original,
    encryptedColumns: ((cipher, table, spec) => {
      const columns = declared.get(table) ?? new Set<string>();
      for (const column of Object.keys(spec)) columns.add(column);
      declared.set(table, columns);
      return original.encryptedColumns(cipher, table, spec);
    }) as typeof original.encryptedColumns,
  };
});

/** Envelope columns sealed with the cipher directly (no encryptedColumns declaration), by where they are sealed. */
const SEALED_DIRECTLY = new Map([
  ['idempotency_records.response_body', 'src/http/idempotency.ts'],
  ['legal_holds.reason', 'src/modules/retention/legal-holds.service.ts'],
]);

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('[ASVS 11.1.2] the key registry is the complete inventory of keyed columns', () => {
  it('holds exactly the encrypted columns the repositories declare, with the names bound into their additional data', () => {
    expect(declared.size).toBeGreaterThanOrEqual(10);
    const fromRepos = [...declared].flatMap(([table, columns]) => [...columns].map((column) => `${table}:${column}`)).sort();
    const fromRegistry = ENVELOPE_COLUMNS.filter((entry) => !SEALED_DIRECTLY.has(`${entry.table}.${entry.column}`))
      .map((entry) => `${entry.table}:${entry.aadColumn}`)
      .sort();
    expect(fromRegistry).toEqual(fromRepos);
  });

  it('[ASVS 11.1.3] lists every bytea column of the migrated schema as an envelope, a blind index or a named non-keyed value', async () => {
    const { rows } = await sql<{ table: string; column: string }>`select table_name as "table", column_name as "column" from information_schema.columns
      where table_schema = current_schema() and data_type = 'bytea' order by 1, 2`.execute(t.container.db);
    expect(rows.length).toBeGreaterThan(30);
    const known = new Set([
      ...ENVELOPE_COLUMNS.map((entry) => `${entry.table}.${entry.column}`),
      ...BLIND_INDEX_COLUMNS.map((entry) => `${entry.table}.${entry.column}`),
      ...NOT_KEYED_BYTEA.keys(),
    ]);
    const unknown = rows.map((row) => `${row.table}.${row.column}`).filter((name) => !known.has(name));
    expect(unknown, 'a bytea column nobody registered: add it to src/modules/keys/key-registry.ts').toEqual([]);
    // And nothing registered is gone from the schema (a stale entry would make the sweep fail).
    const present = new Set(rows.map((row) => `${row.table}.${row.column}`));
    expect([...known].filter((name) => !present.has(name))).toEqual([]);
  });

  it('every registered envelope column holds envelopes the registry can open (a sealed row per table opens with the registry context)', async () => {
    // The bootstrap admin exists in every backend: its email must open with the registry's names.
    const entry = ENVELOPE_COLUMNS.find((e) => e.table === 'users' && e.column === 'email')!;
    const row = await t.container.db.selectFrom('users').select(['id', 'email']).executeTakeFirstOrThrow();
    const plaintext = t.container.cipher.decrypt(row.email, { table: entry.table, column: entry.aadColumn, rowId: row.id }).toString('utf8');
    expect(plaintext).toMatch(/@/);
  });
});
