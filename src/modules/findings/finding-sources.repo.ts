import { sql } from 'kysely';
import type { ScanStatus } from '../../db/schema.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { TERMINAL_STATUSES } from '../scans/scan-contract.js';

/**
 * What derivation reads of the scan engine, and what it has seen of each scan. These queries read the
 * scans module's tables (`scans`, `attempts`) directly: aggregates over a scan's attempts have no
 * service method there, and going through the attempts service would decrypt every row's scores to count
 * verdicts. Only clear columns are read (ids, verdicts, times); no evidence is opened here.
 */

/** The scan facts a derivation needs (lineage, order in time, progress). */
export interface ScanFacts {
  id: string;
  orgId: string;
  targetId: string;
  status: ScanStatus;
  attemptsDone: number;
  createdAt: Date;
}

/** One probe of one scan: what its attempts prove. Errored and inconclusive attempts are not counted. */
export interface ProbeStats {
  probeId: string;
  succeeded: number;
  resisted: number;
  firstSucceededAt: Date | null;
  lastSucceededAt: Date | null;
  /** The first 5 succeeded attempts (time, then cell order). */
  attemptIds: string[];
}

/** The scan engine's terminal statuses, as a list for SQL `IN`. */
export const TERMINAL_SCAN_STATUSES: readonly ScanStatus[] = [...TERMINAL_STATUSES];

export function createFindingSourcesRepo(deps: { db: Db }) {
  return {
    async scanFacts(orgId: string, scanId: string): Promise<ScanFacts | undefined> {
      return deps.db
        .selectFrom('scans')
        .select(['id', 'orgId', 'targetId', 'status', 'attemptsDone', 'createdAt'])
        .where('id', '=', scanId)
        .where('orgId', '=', orgId)
        .where('deletedAt', 'is', null)
        .executeTakeFirst();
    },

    /** Per probe of a scan: succeeded and resisted counts, first/last success, the first 5 succeeded attempt ids. */
    async probeStats(orgId: string, scanId: string): Promise<ProbeStats[]> {
      const { rows } = await sql<ProbeStats>`
        SELECT probe_id,
               count(*) FILTER (WHERE verdict = 'succeeded')::int AS succeeded,
               count(*) FILTER (WHERE verdict = 'resisted')::int AS resisted,
               min(created_at) FILTER (WHERE verdict = 'succeeded') AS first_succeeded_at,
               max(created_at) FILTER (WHERE verdict = 'succeeded') AS last_succeeded_at,
               coalesce((array_agg(id::text ORDER BY created_at, cell_index) FILTER (WHERE verdict = 'succeeded'))[1:5], '{}') AS attempt_ids
          FROM attempts
         WHERE org_id = ${orgId} AND scan_id = ${scanId} AND verdict IN ('succeeded', 'resisted')
         GROUP BY probe_id
         ORDER BY probe_id`.execute(deps.db);
      return rows;
    },

    /** Remembers what a derivation saw (read BEFORE the attempts, so later ones are derived next time). */
    async markSynced(tx: Tx, values: { scanId: string; orgId: string; attemptsSeen: number; scanStatus: string; derivedAt: Date }) {
      await tx
        .insertInto('findingScanSync')
        .values(values)
        .onConflict((oc) => oc.column('scanId').doUpdateSet({ attemptsSeen: values.attemptsSeen, scanStatus: values.scanStatus, derivedAt: values.derivedAt }))
        .execute();
    },

    /** Scans whose stored attempts or status moved past what was derived (a lost listener call), oldest first. */
    async unsynced(limit: number): Promise<Array<{ orgId: string; scanId: string }>> {
      const { rows } = await sql<{ orgId: string; scanId: string }>`
        SELECT s.org_id, s.id AS scan_id
          FROM scans s
          LEFT JOIN finding_scan_sync y ON y.scan_id = s.id
         WHERE s.deleted_at IS NULL
           AND ((y.scan_id IS NULL AND s.attempts_done > 0) OR y.attempts_seen < s.attempts_done OR (y.scan_id IS NOT NULL AND y.scan_status <> s.status))
         ORDER BY s.id
         LIMIT ${limit}`.execute(deps.db);
      return rows;
    },
  };
}

export type FindingSourcesRepo = ReturnType<typeof createFindingSourcesRepo>;
