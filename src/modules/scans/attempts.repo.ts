import { CompiledQuery } from 'kysely';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { AttemptsTable, AttemptVerdict } from '../../db/schema.js';
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

/** Every column an attempt is inserted with (created_at has its default), in statement order. */
const INSERT_COLUMNS = [
  ['id', 'id'],
  ['orgId', 'org_id'],
  ['scanId', 'scan_id'],
  ['cellIndex', 'cell_index'],
  ['probeId', 'probe_id'],
  ['chainIndex', 'chain_index'],
  ['sampleIndex', 'sample_index'],
  ['converterLineage', 'converter_lineage'],
  ['promptOriginal', 'prompt_original'],
  ['promptConverted', 'prompt_converted'],
  ['promptSha256', 'prompt_sha256'],
  ['promptBytes', 'prompt_bytes'],
  ['promptTruncated', 'prompt_truncated'],
  ['requestRedacted', 'request_redacted'],
  ['response', 'response'],
  ['responseSha256', 'response_sha256'],
  ['responseBytes', 'response_bytes'],
  ['responseTruncated', 'response_truncated'],
  ['statusCode', 'status_code'],
  ['latencyMs', 'latency_ms'],
  ['retries', 'retries'],
  ['errorCode', 'error_code'],
  ['scores', 'scores'],
  ['verdict', 'verdict'],
] as const satisfies ReadonlyArray<readonly [keyof Omit<AttemptsTable, 'createdAt'>, string]>;

/** INSERT of n rows, parameters $1… row by row in INSERT_COLUMNS order; a cell already stored is skipped. */
function insertText(rows: number): string {
  const width = INSERT_COLUMNS.length;
  const tuples = Array.from({ length: rows }, (_, row) => `(${INSERT_COLUMNS.map((_, column) => `$${row * width + column + 1}`).join(', ')})`);
  return `insert into attempts (${INSERT_COLUMNS.map(([, column]) => column).join(', ')}) values ${tuples.join(', ')} on conflict (scan_id, cell_index) do nothing`;
}

/**
 * The batch statement's text for n rows, built once per n: with 200 rows, Kysely's builder and
 * compiler took 5% of the scan worker's CPU for a statement whose shape never changes.
 */
const batchTexts = new Map<number, string>();
function batchText(rows: number): string {
  let text = batchTexts.get(rows);
  if (text) return text;
  const width = INSERT_COLUMNS.length;
  const count = (verdict: AttemptVerdict) => `(select count(*)::int from inserted where verdict = '${verdict}')`;
  text =
    `with inserted as (${insertText(rows)} returning verdict) ` +
    'update scans set attempts_done = attempts_done + (select count(*)::int from inserted), ' +
    `succeeded = succeeded + ${count('succeeded')}, resisted = resisted + ${count('resisted')}, ` +
    `errored = errored + ${count('errored')}, inconclusive = inconclusive + ${count('inconclusive')}, ` +
    `requests_used = requests_used + $${rows * width + 1} where id = $${rows * width + 2} ` +
    'returning attempts_done, cells_total, requests_used, succeeded, resisted, errored, inconclusive, (select count(*)::int from inserted) as inserted';
  batchTexts.set(rows, text);
  return text;
}

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
  // The sealed records as the statement's parameters, row by row in INSERT_COLUMNS order.
  const parametersOf = (records: readonly AttemptRecord[]): unknown[] => {
    const parameters: unknown[] = [];
    for (const row of sealRows(records)) for (const [field] of INSERT_COLUMNS) parameters.push(row[field]);
    return parameters;
  };

  return {
    /**
     * Inserts the records; a cell that already has an attempt (another run stored it first) is skipped
     * by the unique index. Returns only the rows this call inserted, so counters add each cell once.
     */
    async insertBatch(tx: Tx, records: readonly AttemptRecord[]): Promise<Array<{ cellIndex: number; verdict: AttemptVerdict }>> {
      if (records.length === 0) return [];
      const parameters = parametersOf(records);
      const statement = CompiledQuery.raw(`${insertText(records.length)} returning cell_index, verdict`, parameters);
      return (await tx.executeQuery<{ cellIndex: number; verdict: AttemptVerdict }>(statement)).rows;
    },

    /**
     * ONE statement that inserts the records and adds exactly the inserted ones to the scan's counters
     * (and every request made to its budget), sealed and compiled here, before any transaction: run it
     * with `storeBatch`. Its UPDATE takes the scan row's lock only after the rows are in (the attempts'
     * foreign-key checks run at the end of the statement), so concurrent chunks insert in parallel and
     * serialise just for the counters, which also order the scan's event appends after it.
     */
    compileBatch(scanId: string, records: readonly AttemptRecord[], requests: number): CompiledQuery<StoredBatchTotals> {
      // Result rows come back camel-cased by the database's CamelCasePlugin, as for any query.
      const parameters = [...parametersOf(records), requests, scanId]; // first: it refuses a bad row count
      return CompiledQuery.raw(batchText(records.length), parameters);
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
