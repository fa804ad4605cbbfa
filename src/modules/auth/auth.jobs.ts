import type { Policy } from '../../config/policy.schema.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { definePurgeJob, purgeInBatches } from '../../platform/jobs.js';
import type { EmailTokensRepo } from './email-tokens.repo.js';
import { purgeForgottenLoginAttempts } from './lockout.repo.js';
import { LOCK_HISTORY_QUIET_MS } from './lockout.service.js';
import { createRefreshTokenRepo, type RefreshTokenRepo } from './refresh-token.repo.js';

const DAY_MS = 24 * 3_600_000;
/**
 * Revoked families are kept this long: a stolen token replayed soon after a logout or reuse still
 * meets its family (and answers 401 as reuse). Once deleted, the token is merely unknown, which the
 * refresh service answers with the same 401 `invalid_refresh_token` (`rotate` → `invalid`).
 */
export const REVOKED_FAMILY_RETENTION_MS = DAY_MS;
/** Used, revoked and expired email tokens are kept a week after expiry (support questions), then deleted. */
export const EXPIRED_EMAIL_TOKEN_RETENTION_MS = 7 * DAY_MS;

/** The policy's durations for these classes (retention section); without it, the defaults above (the policy's defaults too). */
type TokenRetention = Pick<Policy['retention'], 'revokedSessionsDays' | 'expiredEmailTokensDays'>;

/**
 * Hourly identity housekeeping. Every job deletes in autocommitted batches of at most 500 rows,
 * stops between batches when the queue aborts it, and is idempotent (a second run finds nothing).
 */
export function authHousekeepingJobs(deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  emailTokensRepo: Pick<EmailTokensRepo, 'purgeExpired'>;
  refreshTokenRepo?: Pick<RefreshTokenRepo, 'purgeTokensOfDeadFamilies' | 'purgeDeadFamilies'>;
  /** The policy's retention section, read on every run (ADR 0013). */
  retention?: () => TokenRetention;
}) {
  const refreshTokenRepo = deps.refreshTokenRepo ?? createRefreshTokenRepo();
  const revokedFamilyMs = () => (deps.retention ? deps.retention().revokedSessionsDays * DAY_MS : REVOKED_FAMILY_RETENTION_MS);
  const expiredEmailTokenMs = () => (deps.retention ? deps.retention().expiredEmailTokensDays * DAY_MS : EXPIRED_EMAIL_TOKEN_RETENTION_MS);
  return [
    /**
     * Lockout counters that no decision reads any more. A row qualifies when no lock is in force and
     * both its last failure and the end of its last lock lie at least LOCK_HISTORY_QUIET_MS (24 h) back.
     * For such a row the lockout service already acts as if it did not exist:
     * - `status` reads `locked_until`, which is null or past: unlocked, the same as no row;
     * - the next failure finds the window over (it opened at or before the last failure, more than 24 h
     *   ago, and `windowMinutes` is at most 24 h) and the history quiet (`prior` = 0), so it writes
     *   failures 1, a new window and lock count 0 (or 1 if it locks), exactly what an insert writes;
     * - a success or an unlock only reset fields to those same values.
     * Rows inside the quiet period keep their lock count, so a renewed attack still meets longer locks.
     */
    definePurgeJob('auth.purge-login-attempts', (signal) => {
      const now = deps.clock.now();
      const quietCutoff = new Date(now.getTime() - LOCK_HISTORY_QUIET_MS);
      return purgeInBatches(signal, (batch) => purgeForgottenLoginAttempts(deps.db, now, quietCutoff, batch));
    }),

    /** Refresh-token families past their absolute expiry, or revoked longer ago than the policy keeps them (a day), with their tokens. */
    definePurgeJob('auth.purge-refresh-families', async (signal) => {
      const now = deps.clock.now();
      const dead = { expiredBefore: now, revokedBefore: new Date(now.getTime() - revokedFamilyMs()) };
      // Tokens first, so no family delete cascades to an unbounded number of rows.
      await purgeInBatches(signal, (batch) => refreshTokenRepo.purgeTokensOfDeadFamilies(deps.db, dead, batch));
      await purgeInBatches(signal, (batch) => refreshTokenRepo.purgeDeadFamilies(deps.db, dead, batch));
    }),

    /** Invitation, reset and registration tokens that expired longer ago than the policy keeps them (a week), used or not. */
    definePurgeJob('auth.purge-email-tokens', (signal) => {
      const cutoff = new Date(deps.clock.now().getTime() - expiredEmailTokenMs());
      return purgeInBatches(signal, (batch) => deps.emailTokensRepo.purgeExpired(deps.db, cutoff, batch));
    }),
  ] as const;
}
