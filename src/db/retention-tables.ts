import type { ColumnType } from 'kysely';

/** Retention and legal hold (issue 9 §4, ADR 0013); `Database` in schema.ts joins them with the others. */

/**
 * A legal hold: while `releasedAt` is null nothing of the organisation (or, with `scanId`, of that
 * scan's attempts) is purged. Released holds stay as the record of what was held, when and by whom.
 * `reason` is an AES-GCM envelope (a matter name can name people).
 */
export interface LegalHoldsTable {
  id: string;
  orgId: string;
  scanId: string | null;
  reason: Buffer;
  createdAt: Date;
  createdBy: string | null;
  releasedAt: Date | null;
  releasedBy: string | null;
}

export type RetentionRunTrigger = 'schedule' | 'api';
export type RetentionRunOutcome = 'completed' | 'interrupted' | 'failed';

/** One retention run (the daily job or `POST /admin/retention/runs`) with rows removed per data class. */
export interface RetentionRunsTable {
  id: string;
  trigger: RetentionRunTrigger;
  actorId: string | null;
  startedAt: Date;
  finishedAt: Date;
  outcome: RetentionRunOutcome;
  counts: ColumnType<Record<string, number>, string, never>;
}

/**
 * The audit purge horizon (append-only, written only by `audit_purge_through`): events with
 * `seq <= throughSeq` are gone or going; `headHash` is the signed checkpoint's hash at `throughSeq`,
 * the anchor the verifier continues the chain from.
 */
export interface AuditPurgesTable {
  throughSeq: ColumnType<number, number, never>;
  headHash: Buffer;
  cutoff: Date;
  purgedAt: Date;
}
