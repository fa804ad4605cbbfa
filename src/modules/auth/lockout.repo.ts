import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';

/** What one failure is judged against; the lockout service derives it from the clock and the policy. */
export interface FailureRule {
  now: Date;
  /** A window that started at or before this instant is over: the count restarts at 1. */
  windowCutoff: Date;
  /** Lock history whose last failure or lock end is at or before this instant is forgotten. */
  quietCutoff: Date;
  maxFailures: number;
  /** Lock period in seconds by number of earlier locks (index 0: first lock); the last entry repeats. */
  lockSeconds: readonly number[];
}

export interface LockState {
  failures: number;
  lockedUntil: Date | null;
}

/**
 * SQL for `login_attempts`. `recordFailure` is one INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING:
 * the conflicting row is locked for the update, so concurrent failures on one email serialise and each
 * one counts (PostgreSQL 15 SQL; no MERGE ... RETURNING).
 */
export function createLockoutRepo() {
  return {
    async recordFailure(tx: Tx, emailIndex: Buffer, rule: FailureRule): Promise<LockState> {
      const periods = `{${rule.lockSeconds.map((seconds) => Math.trunc(seconds)).join(',')}}`;
      const now = sql`${rule.now}::timestamptz`;
      const max = sql`${rule.maxFailures}::int`;
      const result = await sql<LockState>`
        INSERT INTO login_attempts AS a
          (email_index, failures, window_started_at, locked_until, lock_count, last_failure_at, created_at, updated_at)
        VALUES (
          ${emailIndex}, 1,
          CASE WHEN 1 >= ${max} THEN NULL ELSE ${now} END,
          CASE WHEN 1 >= ${max} THEN ${now} + make_interval(secs => (${periods}::int[])[1]) END,
          CASE WHEN 1 >= ${max} THEN 1 ELSE 0 END,
          ${now}, ${now}, ${now}
        )
        ON CONFLICT (email_index) DO UPDATE SET
          (failures, window_started_at, locked_until, lock_count, last_failure_at, updated_at) = (
            SELECT
              CASE WHEN s.locked THEN a.failures ELSE s.next_failures END,
              CASE WHEN s.locked THEN a.window_started_at WHEN s.next_failures >= ${max} THEN NULL ELSE s.window_start END,
              CASE
                WHEN s.locked THEN a.locked_until
                WHEN s.next_failures >= ${max}
                  THEN ${now} + make_interval(secs => (${periods}::int[])[least(s.prior + 1, cardinality(${periods}::int[]))])
                ELSE a.locked_until
              END,
              CASE WHEN s.locked THEN a.lock_count WHEN s.next_failures >= ${max} THEN s.prior + 1 ELSE s.prior END,
              ${now}, ${now}
            FROM (
              SELECT
                a.locked_until IS NOT NULL AND a.locked_until > ${now} AS locked,
                CASE WHEN f.fresh THEN 1 ELSE a.failures + 1 END AS next_failures,
                CASE WHEN f.fresh THEN ${now} ELSE a.window_started_at END AS window_start,
                CASE WHEN greatest(a.last_failure_at, a.locked_until) <= ${rule.quietCutoff}::timestamptz THEN 0 ELSE a.lock_count END AS prior
              FROM (SELECT a.window_started_at IS NULL OR a.window_started_at <= ${rule.windowCutoff}::timestamptz AS fresh) f
            ) s
          )
        RETURNING failures, locked_until AS "lockedUntil"`.execute(tx);
      const row = result.rows[0];
      if (!row) throw new Error('login_attempts upsert returned no row');
      return row;
    },

    /** The lock and whether a counting window is open (null: no row at all). */
    async state(executor: Db | Tx, emailIndex: Buffer): Promise<{ lockedUntil: Date | null; counting: boolean } | null> {
      const row = await executor
        .selectFrom('loginAttempts')
        .select(['lockedUntil', 'failures', 'windowStartedAt'])
        .where('emailIndex', '=', emailIndex)
        .executeTakeFirst();
      return row ? { lockedUntil: row.lockedUntil, counting: row.failures > 0 || row.windowStartedAt !== null } : null;
    },

    /** Closes the counting window; the lock and its history stay. */
    async resetFailures(tx: Tx, emailIndex: Buffer, now: Date): Promise<void> {
      await tx.updateTable('loginAttempts').set({ failures: 0, windowStartedAt: null, updatedAt: now }).where('emailIndex', '=', emailIndex).execute();
    },

    /** Lifts a lock and closes the window; the lock count (growth history) stays. */
    async unlock(tx: Tx, emailIndex: Buffer, now: Date): Promise<boolean> {
      const result = await tx
        .updateTable('loginAttempts')
        .set({ failures: 0, windowStartedAt: null, lockedUntil: null, updatedAt: now })
        .where('emailIndex', '=', emailIndex)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
  };
}

export type LockoutRepo = ReturnType<typeof createLockoutRepo>;

/**
 * Deletes up to `batch` counters that no lockout decision reads any more: no lock in force, and both
 * the last failure and the end of the last lock at or before `quietCutoff` (the housekeeping job
 * explains why). A function beside the repository, not a member, so test doubles of `LockoutRepo`
 * need not implement it.
 */
export async function purgeForgottenLoginAttempts(executor: Db | Tx, now: Date, quietCutoff: Date, batch: number): Promise<number> {
  // The conditions sit on the DELETE itself too: a failure recorded concurrently updates the row, and
  // PostgreSQL re-checks the DELETE's own conditions (not the sub-select's) on the updated row.
  const result = await executor
    .deleteFrom('loginAttempts')
    .where((w) => w.or([w('lockedUntil', 'is', null), w('lockedUntil', '<=', now)]))
    .where((w) => w.or([w('lockedUntil', 'is', null), w('lockedUntil', '<=', quietCutoff)]))
    .where('lastFailureAt', '<=', quietCutoff)
    .where('emailIndex', 'in', (eb) =>
      eb
        .selectFrom('loginAttempts')
        .select('emailIndex')
        .where((w) => w.or([w('lockedUntil', 'is', null), w('lockedUntil', '<=', quietCutoff)]))
        .where('lastFailureAt', '<=', quietCutoff)
        .limit(batch),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
