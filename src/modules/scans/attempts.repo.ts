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

/** Append side of attempts: SQL only. Attempts are never updated (a trigger refuses it). */
export function createAttemptsRepo(deps: { db: Db; cipher: FieldCipher }) {
  const sealed = attemptColumns(deps.cipher);

  return {
    /**
     * Inserts the records; a cell that already has an attempt (another run stored it first) is skipped
     * by the unique index. Returns only the rows this call inserted, so counters add each cell once.
     */
    async insertBatch(tx: Tx, records: readonly AttemptRecord[]): Promise<Array<{ cellIndex: number; verdict: AttemptVerdict }>> {
      if (records.length === 0) return [];
      if (records.length > MAX_INSERT_ROWS) throw new RangeError(`at most ${MAX_INSERT_ROWS} attempts per insert`);
      const rows = records.map((record) => {
        const envelopes = sealed.seal(record.id, {
          promptOriginal: record.promptOriginal,
          promptConverted: record.promptConverted,
          requestRedacted: record.requestRedacted,
          response: record.response,
          scores: record.scores,
        });
        return {
          ...record,
          ...envelopes,
          converterLineage: JSON.stringify(record.converterLineage),
        };
      });
      return tx
        .insertInto('attempts')
        .values(rows)
        .onConflict((conflict) => conflict.columns(['scanId', 'cellIndex']).doNothing())
        .returning(['cellIndex', 'verdict'])
        .execute();
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
