import type { Selectable } from 'kysely';
import type { LegalHoldsTable, RetentionRunsTable } from '../../db/schema.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';

type Executor = Db | Tx;
export type LegalHoldRow = Selectable<LegalHoldsTable>;
export type RetentionRunRow = Selectable<RetentionRunsTable>;

/** Legal holds and the record of retention runs (ADR 0013). Envelopes stay sealed here; the service opens them. */
export const legalHoldsRepo = {
  async insert(tx: Tx, row: LegalHoldRow): Promise<void> {
    await tx.insertInto('legalHolds').values(row).execute();
  },

  async find(executor: Executor, id: string): Promise<LegalHoldRow | undefined> {
    return executor.selectFrom('legalHolds').selectAll().where('id', '=', id).executeTakeFirst();
  },

  /** Newest first (UUIDv7 ids are time-ordered); `limit + 1` rows for the page's next cursor. */
  async list(executor: Executor, limit: number, beforeId?: string): Promise<LegalHoldRow[]> {
    let query = executor.selectFrom('legalHolds').selectAll().orderBy('id', 'desc').limit(limit + 1);
    if (beforeId) query = query.where('id', '<', beforeId);
    return query.execute();
  },

  /** Releases an active hold; false when it was released already (the row is kept either way). */
  async release(tx: Tx, id: string, at: Date, by: string | null): Promise<boolean> {
    const result = await tx.updateTable('legalHolds').set({ releasedAt: at, releasedBy: by }).where('id', '=', id).where('releasedAt', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  },

  async orgExists(executor: Executor, orgId: string): Promise<boolean> {
    return (await executor.selectFrom('organisations').select('id').where('id', '=', orgId).executeTakeFirst()) !== undefined;
  },

  async scanOrg(executor: Executor, scanId: string): Promise<string | undefined> {
    return (await executor.selectFrom('scans').select('orgId').where('id', '=', scanId).executeTakeFirst())?.orgId;
  },

  async insertRun(tx: Tx, row: Omit<RetentionRunRow, 'counts'> & { counts: Record<string, number> }): Promise<void> {
    await tx.insertInto('retentionRuns').values({ ...row, counts: JSON.stringify(row.counts) }).execute();
  },

  async listRuns(executor: Executor, limit: number, beforeId?: string): Promise<RetentionRunRow[]> {
    let query = executor.selectFrom('retentionRuns').selectAll().orderBy('id', 'desc').limit(limit + 1);
    if (beforeId) query = query.where('id', '<', beforeId);
    return query.execute();
  },
};

export type LegalHoldsRepo = typeof legalHoldsRepo;
