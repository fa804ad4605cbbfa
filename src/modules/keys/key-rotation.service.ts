import { ENVELOPE_FORMAT, isIntegrityError, normaliseEmail, type BlindIndex, type FieldCipher, type Keyring } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import { BLIND_INDEX_COLUMNS, ENVELOPE_COLUMNS, ROTATION_GUARDED_TABLES, type BlindIndexColumn, type EnvelopeColumn } from './key-registry.js';
import type { KeysRepo, SweepRow } from './keys.repo.js';

/** Rows per batch (DESIGN §5: bounded batches, at most 500 per transaction). */
export const ROTATION_BATCH = 200;
/** Passes over one column while concurrent writers keep winning the compare-and-set. */
const MAX_PASSES = 5;
/** Failures listed by id in a result; the count is always complete. */
const MAX_LISTED_FAILURES = 100;

export type RotatedKey = 'ENCRYPTION_KEYRING' | 'BLIND_INDEX_KEY';

/** Where one column stands in a run. */
export interface ColumnProgress {
  key: RotatedKey;
  table: string;
  column: string;
  /** Rows looked at (not on the current version, or a blind index that was checked). */
  examined: number;
  /** Rows moved to the current version. */
  rotated: number;
  /** Rows that changed under the sweep (compare-and-set lost); picked up again by the next pass or run. */
  conflicts: number;
  /** Rows that did not open (or did not decode): counted, listed, left as they are. */
  failed: number;
  /** Set when the column is never rewritten, with why. */
  pinned: string | null;
}

export interface RotationFailure {
  table: string;
  column: string;
  id: string;
  reason: string;
}

export interface RotationResult {
  encryptionVersion: number;
  blindIndexVersion: number;
  columns: ColumnProgress[];
  rotated: number;
  failed: number;
  conflicts: number;
  /** The first failures by table/column/id (the count above is complete). */
  failures: RotationFailure[];
  /** True when the run was stopped before the end (abort signal); a new run continues. */
  interrupted: boolean;
}

export interface RotationOptions {
  batchSize?: number;
  signal?: AbortSignal;
  /** Called after every batch and at the end of every column, with that column's progress. */
  onProgress?: (progress: Readonly<ColumnProgress>) => void;
  /** Called between a batch's read and its write (tests use it to write concurrently). */
  beforeWrite?: (table: string, column: string, rows: readonly SweepRow[]) => Promise<void>;
}

const headerOf = (version: number): Buffer => {
  const header = Buffer.alloc(5);
  header[0] = ENVELOPE_FORMAT;
  header.writeUInt32BE(version, 1);
  return header;
};

// The coarse integrity reason only: never a library message that could carry bytes.
const reasonOf = (error: unknown): string => (isIntegrityError(error) ? error.reason : 'unreadable');

/**
 * The re-encryption sweep (issue 9 §1, ADR 0012): every envelope column of the registry to the current
 * ENCRYPTION_KEYRING version, then every re-indexable blind index to the current BLIND_INDEX_KEY version.
 * Rows are selected by the version in their envelope (so a re-run continues where one stopped), in id
 * order (keyset), a bounded batch per transaction; each row is written with a compare-and-set on its old
 * value, so a row changed concurrently is never overwritten and is looked at again.
 */
export function createKeyRotation(deps: { db: Db; repo: KeysRepo; cipher: FieldCipher; blindIndex: BlindIndex; keyrings: { encryption: Keyring; blindIndex: Keyring } }) {
  const { db, repo } = deps;

  type Update = { row: SweepRow; next: Buffer; source?: { column: string; value: Buffer } };

  /**
   * Passes over one column in keyset batches until a pass meets no conflict (at most MAX_PASSES): `fetch`
   * reads the next batch after an id, `prepare` turns a row into its rewrite (null: nothing to do) or
   * throws for a row that does not open, which is counted once and never retried in this run.
   */
  async function sweepColumn(
    table: string,
    column: string,
    progress: ColumnProgress,
    state: RunState,
    options: RotationOptions,
    fetch: (after: string | null) => Promise<SweepRow[]>,
    prepare: (row: SweepRow) => Update | null,
  ): Promise<void> {
    const failedIds = new Set<string>();
    for (let pass = 0; pass < MAX_PASSES; pass += 1) {
      let after: string | null = null;
      let conflicts = 0;
      for (;;) {
        if (options.signal?.aborted) return state.interrupt();
        const rows = await fetch(after);
        if (rows.length === 0) break;
        after = rows[rows.length - 1]!.id;
        const updates: Update[] = [];
        for (const row of rows) {
          if (failedIds.has(row.id)) continue;
          try {
            const update = prepare(row);
            if (!update) continue;
            progress.examined += 1;
            updates.push(update);
          } catch (error) {
            progress.examined += 1;
            failedIds.add(row.id);
            state.fail(progress, row.id, reasonOf(error));
          }
        }
        await options.beforeWrite?.(table, column, rows);
        conflicts += await writeBatch(table, column, progress, updates);
        options.onProgress?.(progress);
        if (rows.length < state.batchSize) break;
      }
      if (conflicts === 0) break;
    }
  }

  async function sweepEnvelopes(entry: EnvelopeColumn, state: RunState, options: RotationOptions): Promise<void> {
    const progress = state.column('ENCRYPTION_KEYRING', entry.table, entry.column, entry.pinned ?? null);
    if (entry.pinned) return;
    const header = headerOf(deps.keyrings.encryption.current);
    await sweepColumn(
      entry.table,
      entry.column,
      progress,
      state,
      options,
      (after) => repo.staleEnvelopes(db, entry.table, entry.column, header, after, state.batchSize),
      (row) => {
        const context = { table: entry.table, column: entry.aadColumn, rowId: row.id };
        return { row, next: deps.cipher.encrypt(deps.cipher.decrypt(row.value, context), context) };
      },
    );
  }

  async function writeBatch(table: string, column: string, progress: ColumnProgress, updates: Array<{ row: SweepRow; next: Buffer; source?: { column: string; value: Buffer } }>): Promise<number> {
    if (updates.length === 0) return 0;
    let conflicts = 0;
    await db.transaction().execute(async (tx) => {
      if (ROTATION_GUARDED_TABLES.has(table)) await repo.allowRotationUpdates(tx);
      for (const { row, next, source } of updates) {
        if (await repo.compareAndSet(tx, table, column, row.id, row.value, next, source)) progress.rotated += 1;
        else conflicts += 1;
      }
    });
    progress.conflicts += conflicts;
    return conflicts;
  }

  async function sweepIndex(entry: BlindIndexColumn, state: RunState, options: RotationOptions): Promise<void> {
    const rotation = entry.rotation;
    const progress = state.column('BLIND_INDEX_KEY', entry.table, entry.column, rotation.how === 'reindex' ? null : rotation.note);
    if (rotation.how !== 'reindex') return;
    await sweepColumn(
      entry.table,
      entry.column,
      progress,
      state,
      options,
      (after) => repo.indexBatch(db, entry.table, entry.column, rotation.from, after, state.batchSize),
      (row) => {
        if (!row.source) return null;
        const plaintext = deps.cipher.decrypt(row.source, { table: entry.table, column: rotation.fromAad, rowId: row.id }).toString('utf8');
        const next = deps.blindIndex.compute(normaliseEmail(plaintext), rotation.purpose);
        return next.equals(row.value) ? null : { row, next, source: { column: rotation.from, value: row.source } };
      },
    );
  }

  return {
    /** One full sweep; never throws for a row that does not open (counted in `failed`). */
    async run(options: RotationOptions = {}): Promise<RotationResult> {
      const state = createRunState(options.batchSize ?? ROTATION_BATCH);
      for (const entry of ENVELOPE_COLUMNS) {
        await sweepEnvelopes(entry, state, options);
        if (state.interrupted) break;
      }
      if (!state.interrupted) {
        for (const entry of BLIND_INDEX_COLUMNS) {
          await sweepIndex(entry, state, options);
          if (state.interrupted) break;
        }
      }
      return state.result(deps.keyrings.encryption.current, deps.keyrings.blindIndex.current);
    },
  };
}

export type KeyRotation = ReturnType<typeof createKeyRotation>;

type RunState = ReturnType<typeof createRunState>;

function createRunState(batchSize: number) {
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 500) throw new RangeError('batch size must be 1..500');
  const columns: ColumnProgress[] = [];
  const failures: RotationFailure[] = [];
  let failed = 0;
  let interrupted = false;
  return {
    batchSize,
    get interrupted() {
      return interrupted;
    },
    interrupt() {
      interrupted = true;
    },
    column(key: RotatedKey, table: string, column: string, pinned: string | null): ColumnProgress {
      const progress: ColumnProgress = { key, table, column, examined: 0, rotated: 0, conflicts: 0, failed: 0, pinned };
      columns.push(progress);
      return progress;
    },
    fail(progress: ColumnProgress, id: string, reason: string) {
      progress.failed += 1;
      failed += 1;
      if (failures.length < MAX_LISTED_FAILURES) failures.push({ table: progress.table, column: progress.column, id, reason });
    },
    result(encryptionVersion: number, blindIndexVersion: number): RotationResult {
      const sum = (field: 'rotated' | 'conflicts') => columns.reduce((total, column) => total + column[field], 0);
      return { encryptionVersion, blindIndexVersion, columns, rotated: sum('rotated'), failed, conflicts: sum('conflicts'), failures, interrupted };
    },
  };
}
