import type { Policy } from '../../config/policy.schema.js';
import type { RetentionRunOutcome, RetentionRunTrigger } from '../../db/schema.js';
import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { newId } from '../../platform/ids.js';
import { purgeInBatches } from '../../platform/jobs.js';
import type { Logger } from '../../platform/logger.js';
import type { AuditContext, AuditRecorder } from '../audit/audit.recorder.js';
import type { LegalHoldsRepo, RetentionRunRow } from './legal-holds.repo.js';
import type { UserAnonymisationService } from '../users/user-anonymisation.service.js';
import { ANONYMISED_USERS, PURGE_CLASSES, type RetentionCutoffs, type RetentionRepo } from './retention.repo.js';

const DAY_MS = 86_400_000;
/** Users anonymised per transaction: each is one sealed UPDATE, so batches stay well under a second. */
const ANONYMISE_BATCH = 100;

/**
 * Every data class a run reports, in the order it handles them (audit events first, user anonymisation
 * last: it also deletes the user's remaining sessions and tokens, which the classes before it count).
 */
export const RETENTION_CLASSES = ['auditEvents', ...PURGE_CLASSES.map((purgeClass) => purgeClass.name), ANONYMISED_USERS] as const;

export type RetentionCounts = Record<string, number>;

/** The instants before which each class is past its date, from the policy in force at `now`. */
export function retentionCutoffs(now: Date, retention: Policy['retention']): RetentionCutoffs {
  const daysBack = (days: number) => new Date(now.getTime() - days * DAY_MS);
  return {
    now,
    auditEvents: daysBack(retention.auditEventsDays),
    attempts: daysBack(retention.attemptsDays),
    softDeleted: daysBack(retention.softDeletedDays),
    revokedSessions: daysBack(retention.revokedSessionsDays),
    expiredEmailTokens: daysBack(retention.expiredEmailTokensDays),
    finishedOutbox: daysBack(retention.finishedOutboxDays),
    acknowledgedAlerts: daysBack(retention.acknowledgedAlertsDays),
  };
}

/** The audit event's detail: outcome and trigger, then every class's count (zeros too: an assessor sees all of them). */
const auditDetail = (counts: RetentionCounts, outcome: RetentionRunOutcome, trigger: RetentionRunTrigger) => ({ outcome, trigger, ...counts });

const zeroCounts = (): RetentionCounts => Object.fromEntries(RETENTION_CLASSES.map((name) => [name, 0]));

const runView = (row: RetentionRunRow) => ({
  id: row.id,
  trigger: row.trigger,
  actorId: row.actorId,
  startedAt: row.startedAt.toISOString(),
  finishedAt: row.finishedAt.toISOString(),
  outcome: row.outcome,
  counts: row.counts,
});

export type RetentionRunView = ReturnType<typeof runView>;

/**
 * Retention runs and dry runs (issue 9 §4, ADR 0013). A run purges every class past its date in
 * autocommitted batches of at most 500 rows (`purgeInBatches`): interruptible between batches and
 * idempotent (a second run finds what the first left). The dry run counts with the very predicates the
 * run deletes with, holds applied, and writes nothing. Each run, from the daily job or the API, leaves
 * a `retention_runs` row and a `retention.run.completed` audit event with its counts, in one transaction.
 */
export function createRetentionService(deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  policy: () => Pick<Policy, 'retention'>;
  repo: RetentionRepo;
  runs: Pick<LegalHoldsRepo, 'insertRun' | 'listRuns'>;
  audit: Pick<AuditRecorder, 'record'>;
  logger: Pick<Logger, 'info' | 'error'>;
  /** Soft-deleted users are anonymised by their own module (the sealing is the users module's). */
  users: Pick<UserAnonymisationService, 'anonymise'>;
}) {
  const { db, repo } = deps;

  /** One transaction: lock a batch, drop what still authenticates as them, replace their PII. */
  const anonymiseBatch = (cut: RetentionCutoffs, batch: number) =>
    db.transaction().execute(async (tx) => {
      const ids = await repo.lockAnonymisableUsers(tx, cut, batch);
      await repo.deleteUserCredentials(tx, ids);
      let anonymised = 0;
      for (const id of ids) if (await deps.users.anonymise(tx, id, cut.now)) anonymised += 1;
      return anonymised;
    });

  return {
    /** What a run would remove (or, for users, anonymise) now, per class (holds applied); writes nothing. */
    async preview(): Promise<{ at: string; counts: RetentionCounts }> {
      const now = deps.clock.now();
      const cut = retentionCutoffs(now, deps.policy().retention);
      const counts = zeroCounts();
      const target = await repo.auditPurgeTarget(db, cut.auditEvents);
      if (target !== null) counts.auditEvents = await repo.countAuditThrough(db, target);
      for (const purgeClass of PURGE_CLASSES) counts[purgeClass.name] = await repo.countClass(db, purgeClass, cut);
      counts[ANONYMISED_USERS] = await repo.countAnonymisableUsers(db, cut);
      return { at: now.toISOString(), counts };
    },

    /** Purges every class; records the run (and its audit event) even when it was interrupted or failed. */
    async run(options: { trigger: RetentionRunTrigger; context: AuditContext; actorId: string | null; signal: AbortSignal }): Promise<RetentionRunView> {
      const { signal } = options;
      const startedAt = deps.clock.now();
      const cut = retentionCutoffs(startedAt, deps.policy().retention);
      const counts = zeroCounts();
      let outcome: RetentionRunOutcome = 'completed';
      let failure: Error | undefined;
      try {
        const target = await repo.auditPurgeTarget(db, cut.auditEvents);
        if (target !== null) counts.auditEvents = await purgeInBatches(signal, (batch) => repo.purgeAuditBatch(db, target, cut.auditEvents, batch));
        for (const purgeClass of PURGE_CLASSES) {
          if (signal.aborted) break;
          counts[purgeClass.name] = await purgeInBatches(signal, (batch) => repo.purgeClassBatch(db, purgeClass, cut, batch));
        }
        if (!signal.aborted) counts[ANONYMISED_USERS] = await purgeInBatches(signal, (batch) => anonymiseBatch(cut, batch), ANONYMISE_BATCH);
        if (signal.aborted) outcome = 'interrupted';
      } catch (error) {
        outcome = 'failed';
        failure = error instanceof Error ? error : new Error(String(error));
      }
      const row = { id: newId(), trigger: options.trigger, actorId: options.actorId, startedAt, finishedAt: deps.clock.now(), outcome };
      await db.transaction().execute(async (tx) => {
        await deps.runs.insertRun(tx, { ...row, counts });
        await deps.audit.record(tx, options.context, {
          action: 'retention.run.completed',
          outcome: outcome === 'failed' ? 'error' : 'success',
          resourceId: row.id,
          orgId: null,
          detail: auditDetail(counts, outcome, options.trigger),
        });
      });
      deps.logger.info({ retentionRun: row.id, outcome, counts }, 'retention run');
      if (failure) {
        deps.logger.error({ retentionRun: row.id, err: failure.message }, 'retention run failed');
        throw failure;
      }
      return runView({ ...row, counts });
    },

    async listRuns(query: PaginationParams) {
      const [beforeId] = (decodeCursor(query.cursor, 1) ?? []) as string[];
      const rows = await deps.runs.listRuns(db, query.limit, beforeId);
      return toPage(rows, query.limit, (row) => [row.id], runView);
    },
  };
}

export type RetentionService = ReturnType<typeof createRetentionService>;
