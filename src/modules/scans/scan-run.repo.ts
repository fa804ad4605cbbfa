import { sql } from 'kysely';
import type { ScanStatus } from '../../db/schema.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';

/**
 * The scan row as the executor sees and moves it: its status and budgets (read often, cached by the
 * caller), its counters (added by the attempts' own statement, attemptsRepo.compileBatch) and the status
 * changes a run may make (start, complete, partial, failed). Guarded updates: each names the statuses
 * it may leave, so a cancel that landed first always wins.
 */
export interface ScanRunState {
  id: string;
  orgId: string;
  status: ScanStatus;
  targetVersionId: string;
  startedAt: Date | null;
  budgetMaxRequests: number | null;
  budgetMaxWallSeconds: number | null;
  requestsUsed: number;
  attemptsDone: number;
  cellsTotal: number;
}

const STATE_COLUMNS = ['id', 'orgId', 'status', 'targetVersionId', 'startedAt', 'budgetMaxRequests', 'budgetMaxWallSeconds', 'requestsUsed', 'attemptsDone', 'cellsTotal'] as const;

export function createScanRunRepo(deps: { db: Db }) {
  return {
    async state(orgId: string, scanId: string): Promise<ScanRunState | undefined> {
      return deps.db.selectFrom('scans').select(STATE_COLUMNS).where('id', '=', scanId).where('orgId', '=', orgId).where('deletedAt', 'is', null).executeTakeFirst();
    },

    /**
     * Takes the scan row's lock first in a status change's transaction. The event log's append locks it FOR
     * UPDATE, and an attempts INSERT holds a KEY SHARE lock on it (the foreign key): taking the strong lock
     * before anything else orders concurrent writers on one row instead of letting two upgrade into a deadlock.
     * (The attempt batches need no separate lock: their one statement's UPDATE takes it before the foreign
     * key checks run, see attemptsRepo.compileBatch.)
     */
    async lock(tx: Tx, scanId: string): Promise<void> {
      await tx.selectFrom('scans').select('id').where('id', '=', scanId).forUpdate().executeTakeFirstOrThrow();
    },

    /** queued → running on the first chunk that starts; false when it was not queued. */
    async start(tx: Tx, scanId: string, now: Date): Promise<boolean> {
      const row = await tx
        .updateTable('scans')
        .set((eb) => ({ status: 'running', startedAt: eb.fn.coalesce('startedAt', eb.val(now)), updatedAt: now, version: eb('version', '+', 1) }))
        .where('id', '=', scanId)
        .where('status', '=', 'queued')
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Moves the scan to a final status from one of `from`; for 'completed' only once no chunk is
     * pending (checked in the same statement, so the last of several finishing workers completes it).
     */
    async finish(tx: Tx, scanId: string, to: 'completed' | 'partial' | 'failed', from: readonly ScanStatus[], reason: string | null, now: Date): Promise<boolean> {
      let query = tx
        .updateTable('scans')
        .set((eb) => ({ status: to, statusReason: reason === null ? null : reason.slice(0, 500), finishedAt: now, updatedAt: now, version: eb('version', '+', 1) }))
        .where('id', '=', scanId)
        .where('status', 'in', [...from]);
      if (to === 'completed') {
        query = query.where((eb) =>
          eb.not(eb.exists(eb.selectFrom('scanChunks').select(sql`1`.as('one')).whereRef('scanChunks.scanId', '=', 'scans.id').where('scanChunks.status', '=', 'pending'))),
        );
      }
      const row = await query.returning('id').executeTakeFirst();
      return row !== undefined;
    },
  };
}

export type ScanRunRepo = ReturnType<typeof createScanRunRepo>;
