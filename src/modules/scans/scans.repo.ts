import type { Selectable } from 'kysely';
import type { ScansTable, ScanStatus } from '../../db/schema.js';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';
import { newRowColumns } from '../../platform/db/common-columns.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { FrozenPlan } from './scan-contract.js';
import type { ChunkRange } from './scan-plan.js';

/** Rows per INSERT of chunk rows (DESIGN §5: bounded statements). */
const CHUNK_INSERT_BATCH = 500;

/** Everything a status read needs; never the plan, which only `findPlan` decrypts. */
const SCAN_COLUMNS = [
  'id',
  'orgId',
  'targetId',
  'targetVersionId',
  'name',
  'status',
  'statusReason',
  'planHash',
  'seed',
  'cellsTotal',
  'chunkCount',
  'budgetMaxRequests',
  'budgetMaxWallSeconds',
  'requestsUsed',
  'attemptsDone',
  'succeeded',
  'resisted',
  'errored',
  'inconclusive',
  'startedAt',
  'finishedAt',
  'createdAt',
  'updatedAt',
  'createdBy',
  'version',
] as const;

export type ScanRow = Pick<Selectable<ScansTable>, (typeof SCAN_COLUMNS)[number]>;

/** A scan to insert: the table's own columns (the plan before sealing); counters, status and times take their defaults. */
export type NewScan = Pick<Selectable<ScansTable>, 'id' | 'orgId' | 'targetId' | 'targetVersionId' | 'name' | 'planHash' | 'seed' | 'cellsTotal' | 'chunkCount' | 'budgetMaxRequests' | 'budgetMaxWallSeconds'> & {
  plan: FrozenPlan;
};

/** A pending chunk the reconciler may have to feed to the queue again. */
export interface IdleChunk {
  scanId: string;
  orgId: string;
  chunkIndex: number;
  runs: number;
  updatedAt: Date;
}

/** Scans and their chunk rows: SQL only (rules in scans.service.ts and scan-reconciler.ts). */
export function createScansRepo(deps: { db: Db; cipher: FieldCipher }) {
  // The one declaration of what is encrypted in scans: the plan (inline probes are attack content).
  const sealed = encryptedColumns(deps.cipher, 'scans', { plan: 'json' });

  return {
    /** The scan and its chunk rows (the outbox) in the caller's transaction. */
    async insertScan(tx: Tx, scan: NewScan, chunks: readonly ChunkRange[], actorId: string | null, now: Date): Promise<ScanRow> {
      const { plan, ...rest } = scan;
      const row = await tx
        .insertInto('scans')
        .values({ ...newRowColumns(scan.id, actorId, now), ...rest, status: 'queued', plan: sealed.seal(scan.id, { plan }).plan })
        .returning(SCAN_COLUMNS)
        .executeTakeFirstOrThrow();
      for (let start = 0; start < chunks.length; start += CHUNK_INSERT_BATCH) {
        const batch = chunks.slice(start, start + CHUNK_INSERT_BATCH).map((chunk) => ({ ...chunk, scanId: scan.id, orgId: scan.orgId, updatedAt: now }));
        await tx.insertInto('scanChunks').values(batch).execute();
      }
      return row;
    },

    async findInOrg(executor: Db | Tx, orgId: string, id: string): Promise<ScanRow | undefined> {
      return executor.selectFrom('scans').select(SCAN_COLUMNS).where('id', '=', id).where('orgId', '=', orgId).where('deletedAt', 'is', null).executeTakeFirst();
    },

    /** The decrypted frozen plan (executor and reads that need the cells' content). */
    async findPlan(executor: Db | Tx, orgId: string, id: string): Promise<FrozenPlan | undefined> {
      const row = await executor.selectFrom('scans').select(['id', 'plan']).where('id', '=', id).where('orgId', '=', orgId).executeTakeFirst();
      return row ? (sealed.open(row).plan as FrozenPlan) : undefined;
    },

    /** Newest first, keyset by id (UUIDv7 is time-ordered); fetches limit + 1 to know if there is more. */
    async listForOrg(orgId: string, limit: number, beforeId: string | undefined, status: ScanStatus | undefined): Promise<ScanRow[]> {
      let query = deps.db.selectFrom('scans').select(SCAN_COLUMNS).where('orgId', '=', orgId).where('deletedAt', 'is', null);
      if (beforeId) query = query.where('id', '<', beforeId);
      if (status) query = query.where('status', '=', status);
      return query.orderBy('id', 'desc').limit(limit + 1).execute();
    },

    /**
     * Moves the scan to `to` only from one of `from`: the check is in the statement, so two concurrent
     * requests (or a worker finishing the scan) cannot both win. Undefined when the scan was not in `from`.
     */
    async transition(
      tx: Tx,
      orgId: string,
      id: string,
      change: { from: readonly ScanStatus[]; to: ScanStatus; reason: string | null; finished: boolean; actorId: string | null; now: Date },
    ): Promise<ScanRow | undefined> {
      const { now } = change;
      return tx
        .updateTable('scans')
        .set((eb) => ({
          status: change.to,
          statusReason: change.reason,
          updatedAt: now,
          updatedBy: change.actorId,
          version: eb('version', '+', 1),
          ...(change.finished ? { finishedAt: now } : {}),
        }))
        .where('id', '=', id)
        .where('orgId', '=', orgId)
        .where('deletedAt', 'is', null)
        .where('status', 'in', [...change.from])
        .returning(SCAN_COLUMNS)
        .executeTakeFirst();
    },

    /** Pending chunks no worker holds, with their current run slot (what to enqueue after a create or resume). */
    async idleChunksOf(scanId: string, now: Date) {
      return deps.db
        .selectFrom('scanChunks')
        .select(['chunkIndex', 'runs'])
        .where('scanId', '=', scanId)
        .where('status', '=', 'pending')
        .where((eb) => eb.or([eb('leaseExpiresAt', 'is', null), eb('leaseExpiresAt', '<', now)]))
        .orderBy('chunkIndex')
        .execute();
    },

    /**
     * Gives every idle pending chunk of the scan a fresh run slot (resume): a job of the old slot may
     * already have run and found the scan paused, and a finished job id is never run twice.
     */
    async renewIdleChunks(tx: Tx, scanId: string, now: Date) {
      return tx
        .updateTable('scanChunks')
        .set((eb) => ({ runs: eb('runs', '+', 1), updatedAt: now }))
        .where('scanId', '=', scanId)
        .where('status', '=', 'pending')
        .where((eb) => eb.or([eb('leaseExpiresAt', 'is', null), eb('leaseExpiresAt', '<', now)]))
        .returning(['chunkIndex', 'runs'])
        .execute();
    },

    /** Idle (pending, no live lease: none taken, or its worker died) chunks of queued or running scans, at most `limit`. */
    async idleChunks(now: Date, limit: number): Promise<IdleChunk[]> {
      return deps.db
        .selectFrom('scanChunks')
        .innerJoin('scans', 'scans.id', 'scanChunks.scanId')
        .select(['scanChunks.scanId', 'scanChunks.orgId', 'scanChunks.chunkIndex', 'scanChunks.runs', 'scanChunks.updatedAt'])
        .where('scans.status', 'in', ['queued', 'running'])
        .where('scanChunks.status', '=', 'pending')
        .where((eb) => eb.or([eb('scanChunks.leaseExpiresAt', 'is', null), eb('scanChunks.leaseExpiresAt', '<', now)]))
        .orderBy('scanChunks.scanId')
        .orderBy('scanChunks.chunkIndex')
        .limit(limit)
        .execute();
    },

    /** A fresh run slot for one idle chunk, unless something touched it since it was read (then undefined). */
    async renewChunk(scanId: string, chunkIndex: number, seenRuns: number, now: Date): Promise<number | undefined> {
      const row = await deps.db
        .updateTable('scanChunks')
        .set((eb) => ({ runs: eb('runs', '+', 1), updatedAt: now }))
        .where('scanId', '=', scanId)
        .where('chunkIndex', '=', chunkIndex)
        .where('status', '=', 'pending')
        .where('runs', '=', seenRuns)
        .where((eb) => eb.or([eb('leaseExpiresAt', 'is', null), eb('leaseExpiresAt', '<', now)]))
        .returning('runs')
        .executeTakeFirst();
      return row?.runs;
    },
  };
}

export type ScansRepo = ReturnType<typeof createScansRepo>;
