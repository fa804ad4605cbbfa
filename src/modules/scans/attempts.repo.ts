import { sql, type CompiledQuery } from 'kysely';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { AttemptVerdict } from '../../db/schema.js';
import type { AttemptRecord } from './attempt-evidence.js';

/**
 * The one declaration of what is encrypted in an attempt (DESIGN §5): the prompts and the response as
 * raw bytes (byte-exact evidence), the redacted request and the scorers' results as JSON. The readers
 * (attempts queries) open rows with `attemptColumns(cipher)` so writer and reader cannot disagree.
 */
export const ATTEMPT_SEALED_COLUMNS = {
  promptOriginal: 'bytes',
  promptConverted: 'bytes',
  requestRedacted: 'json',
  response: 'bytes',
  scores: 'json',
} as const;

export const attemptColumns = (cipher: FieldCipher) => encryptedColumns(cipher, 'attempts', ATTEMPT_SEALED_COLUMNS);

/** Rows per INSERT statement: bounded batches (DESIGN §5), well under PostgreSQL's parameter limit. */
export const MAX_INSERT_ROWS = 200;

/** The scan's counters after a stored batch, and how many of its attempts were new. */
export interface StoredBatchTotals {
  attemptsDone: number;
  cellsTotal: number;
  requestsUsed: number;
  succeeded: number;
  resisted: number;
  errored: number;
  inconclusive: number;
  inserted: number;
}

/** Append side of attempts: SQL only. Attempts are never updated (a trigger refuses it). */
export function createAttemptsRepo(deps: { db: Db; cipher: FieldCipher }) {
  const sealed = attemptColumns(deps.cipher);

  // Sealed rows in cell order: concurrent inserts of overlapping cells (a stale run and its successor)
  // then take the unique index entries in the same order and cannot deadlock.
  const sealRows = (records: readonly AttemptRecord[]) => {
    if (records.length === 0 || records.length > MAX_INSERT_ROWS) throw new RangeError(`1 to ${MAX_INSERT_ROWS} attempts per insert`);
    return [...records]
      .sort((a, b) => a.cellIndex - b.cellIndex)
      .map((record) => ({
        ...record,
        ...sealed.seal(record.id, {
          promptOriginal: record.promptOriginal,
          promptConverted: record.promptConverted,
          requestRedacted: record.requestRedacted,
          response: record.response,
          scores: record.scores,
        }),
        converterLineage: JSON.stringify(record.converterLineage),
      }));
  };
  const insertRows = (rows: ReturnType<typeof sealRows>) =>
    deps.db
      .insertInto('attempts')
      .values(rows)
      .onConflict((conflict) => conflict.columns(['scanId', 'cellIndex']).doNothing());
  const insertedWith = (verdict: AttemptVerdict) => sql<number>`(select count(*)::int from inserted where verdict = ${verdict})`;

  return {
    /**
     * Inserts the records; a cell that already has an attempt (another run stored it first) is skipped
     * by the unique index. Returns only the rows this call inserted, so counters add each cell once.
     */
    async insertBatch(tx: Tx, records: readonly AttemptRecord[]): Promise<Array<{ cellIndex: number; verdict: AttemptVerdict }>> {
      if (records.length === 0) return [];
      const { rows } = await tx.executeQuery(insertRows(sealRows(records)).returning(['cellIndex', 'verdict']).compile());
      return rows;
    },

    /**
     * ONE statement that inserts the records and adds exactly the inserted ones to the scan's counters
     * (and every request made to its budget), sealed and compiled here, before any transaction: run it
     * with `storeBatch`. Its UPDATE takes the scan row's lock only after the rows are in (the attempts'
     * foreign-key checks run at the end of the statement), so concurrent chunks insert in parallel and
     * serialise just for the counters, which also order the scan's event appends after it.
     */
    compileBatch(scanId: string, records: readonly AttemptRecord[], requests: number): CompiledQuery<StoredBatchTotals> {
      const rows = sealRows(records);
      return deps.db
        .with('inserted', () => insertRows(rows).returning('verdict'))
        .updateTable('scans')
        .set((eb) => ({
          attemptsDone: eb('attemptsDone', '+', sql<number>`(select count(*)::int from inserted)`),
          succeeded: eb('succeeded', '+', insertedWith('succeeded')),
          resisted: eb('resisted', '+', insertedWith('resisted')),
          errored: eb('errored', '+', insertedWith('errored')),
          inconclusive: eb('inconclusive', '+', insertedWith('inconclusive')),
          requestsUsed: eb('requestsUsed', '+', requests),
        }))
        .where('id', '=', scanId)
        .returning(['attemptsDone', 'cellsTotal', 'requestsUsed', 'succeeded', 'resisted', 'errored', 'inconclusive', sql<number>`(select count(*)::int from inserted)`.as('inserted')])
        .compile();
    },

    /** Runs a compiled batch in `tx`, or on its own (one statement: its own transaction, committed at once). */
    async storeBatch(runner: Db | Tx, statement: CompiledQuery<StoredBatchTotals>): Promise<StoredBatchTotals> {
      const [totals] = (await runner.executeQuery(statement)).rows;
      if (!totals) throw new Error('the scan row is gone');
      return totals;
    },

    /** Cells in [start, end) of the scan that already have an attempt. */
    async storedCells(scanId: string, start: number, end: number): Promise<Set<number>> {
      const rows = await deps.db
        .selectFrom('attempts')
        .select('cellIndex')
        .where('scanId', '=', scanId)
        .where('cellIndex', '>=', start)
        .where('cellIndex', '<', end)
        .execute();
      return new Set(rows.map((row) => row.cellIndex));
    },
  };
}

export type AttemptsRepo = ReturnType<typeof createAttemptsRepo>;
