import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';

type Executor = Db | Tx;

/** A row picked by a sweep: its id, the value to move, and (blind indexes) the envelope it derives from. */
export interface SweepRow {
  id: string;
  value: Buffer;
  source?: Buffer | null;
}

// Table and column names come from key-registry.ts only, never from a request; sql.id quotes them anyway.
const col = (table: string, column: string) => sql.id(table, column);
const tbl = (table: string) => sql.id(table);
const bytes = (value: Uint8Array): Buffer => (Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
/** The key version of an envelope (bytes 1..4, uint32 big-endian; README of platform/crypto) as a number in SQL. */
const versionOf = (table: string, column: string): RawBuilder<number> =>
  sql<number>`(('x' || encode(substring(${col(table, column)} from 2 for 4), 'hex'))::bit(32)::bigint)`;

/** SQL only (DESIGN §5): what the rotation sweep and the key status read and write. */
export const keysRepo = {
  /** Rows per envelope key version of one column (NULLs are not counted). */
  async envelopeUsage(db: Executor, table: string, column: string): Promise<Map<number, number>> {
    const { rows } = await sql<{ version: string | number; count: string | number }>`
      select ${versionOf(table, column)} as version, count(*) as count from ${tbl(table)}
      where ${col(table, column)} is not null group by 1`.execute(db);
    return new Map(rows.map((row) => [Number(row.version), Number(row.count)]));
  },

  /**
   * The next rows of one column whose envelope does not start with `header` (format byte and current
   * version), after `afterId` in id order: the keyset that makes the sweep bounded and resumable.
   */
  async staleEnvelopes(db: Executor, table: string, column: string, header: Buffer, afterId: string | null, limit: number): Promise<SweepRow[]> {
    const after = afterId === null ? sql`true` : sql`id > ${afterId}`;
    const { rows } = await sql<{ id: string; value: Uint8Array }>`
      select id::text as id, ${col(table, column)} as value from ${tbl(table)}
      where ${col(table, column)} is not null and substring(${col(table, column)} from 1 for 5) <> ${header} and ${after}
      order by id limit ${limit}`.execute(db);
    return rows.map((row) => ({ id: row.id, value: bytes(row.value) }));
  },

  /** A batch of rows of a blind-index column with the envelope its plaintext is in, in id order. */
  async indexBatch(db: Executor, table: string, column: string, source: string, afterId: string | null, limit: number): Promise<SweepRow[]> {
    const after = afterId === null ? sql`true` : sql`id > ${afterId}`;
    const { rows } = await sql<{ id: string; value: Uint8Array; source: Uint8Array | null }>`
      select id::text as id, ${col(table, column)} as value, ${col(table, source)} as source from ${tbl(table)}
      where ${col(table, column)} is not null and ${after}
      order by id limit ${limit}`.execute(db);
    return rows.map((row) => ({ id: row.id, value: bytes(row.value), source: row.source === null ? null : bytes(row.source) }));
  },

  async countRows(db: Executor, table: string, column: string): Promise<number> {
    const { rows } = await sql<{ count: string | number }>`select count(*) as count from ${tbl(table)} where ${col(table, column)} is not null`.execute(db);
    return Number(rows[0]?.count ?? 0);
  },

  /** Lets this transaction, and only it, rewrite envelope columns of immutable evidence (migration 0018). */
  async allowRotationUpdates(tx: Tx): Promise<void> {
    await sql`select set_config('vutf.key_rotation', 'on', true)`.execute(tx);
  },

  /**
   * Compare-and-set: writes `next` only where the column still holds `expected` (and, for a blind index,
   * the source envelope still holds `source`). False when the row changed meanwhile: it is left alone.
   */
  async compareAndSet(tx: Tx, table: string, column: string, id: string, expected: Buffer, next: Buffer, source?: { column: string; value: Buffer }): Promise<boolean> {
    const sourceMatches = source ? sql`and ${col(table, source.column)} = ${source.value}` : sql``;
    const result = await sql`update ${tbl(table)} set ${sql.id(column)} = ${next}
      where id = ${id} and ${col(table, column)} = ${expected} ${sourceMatches}`.execute(tx);
    return Number(result.numAffectedRows ?? 0n) === 1;
  },

  /** Records that this database has seen these versions (first time only). */
  async noteVersions(db: Executor, kind: string, versions: readonly number[], now: Date): Promise<void> {
    if (versions.length === 0) return;
    const values = sql.join(versions.map((version) => sql`(${kind}, ${version}, ${now})`));
    await sql`insert into key_versions (kind, version, first_seen_at) values ${values} on conflict do nothing`.execute(db);
  },

  async versionsSeen(db: Executor): Promise<Array<{ kind: string; version: number; firstSeenAt: Date }>> {
    const { rows } = await sql<{ kind: string; version: string | number; firstSeenAt: Date }>`
      select kind, version, first_seen_at from key_versions order by kind, version`.execute(db);
    return rows.map((row) => ({ kind: row.kind, version: Number(row.version), firstSeenAt: new Date(row.firstSeenAt) }));
  },

  /** Checkpoints per signing key version (the audit trail keeps every one, so retired keys stay registered). */
  async checkpointUsage(db: Executor): Promise<Map<number, number>> {
    const { rows } = await sql<{ version: string | number; count: string | number }>`
      select key_version as version, count(*) as count from audit_checkpoints group by 1`.execute(db);
    return new Map(rows.map((row) => [Number(row.version), Number(row.count)]));
  },
};

export type KeysRepo = typeof keysRepo;
