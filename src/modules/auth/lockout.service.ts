import type { Policy } from '../../config/policy.schema.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { createLockoutRepo, type LockoutRepo } from './lockout.repo.js';

/** Longest single lock, and how long lock history is kept after the last failure or lock end. */
export const LOCK_CAP_MS = 24 * 60 * 60 * 1000;
/** Quiet period after which earlier locks no longer lengthen the next one (equal to the cap, see below). */
export const LOCK_HISTORY_QUIET_MS = LOCK_CAP_MS;

export type LockoutPolicy = Policy['lockout'];

export interface LockStatus {
  locked: boolean;
  lockedUntil: Date | null;
}

export interface LockState extends LockStatus {
  /** Failures are being counted (a window is open): a success has something to reset. */
  counting: boolean;
}

export interface FailureOutcome extends LockStatus {
  /** Consecutive failures in the current window (the limit while locked). */
  failures: number;
}

/**
 * Lock periods by number of earlier recent locks: `lockMinutes`, doubled each repeat, capped at 24 h
 * (30 min, 1 h, 2 h, ... 16 h, 24 h with the defaults). The last entry repeats.
 */
export function lockPeriodsSeconds(lockMinutes: number): number[] {
  const capSeconds = LOCK_CAP_MS / 1000;
  const periods: number[] = [];
  let seconds = Math.max(1, Math.trunc(lockMinutes * 60));
  for (;;) {
    periods.push(Math.min(seconds, capSeconds));
    if (seconds >= capSeconds) return periods;
    seconds *= 2;
  }
}

/**
 * Account lockout (ASVS V6.3.1; V6.3.8 for the shared path), keyed by the blind index of the submitted email so unknown and known
 * emails take the same writes (DESIGN §9 "Login timing"). Rules, read from the live policy on each call:
 *
 * - A window opens at the first failure and lasts `windowMinutes`; the `maxFailures`-th failure inside it
 *   locks the email. A failure after the window ends starts a new window at 1.
 * - `lockMinutes` is the first lock period (the policy default is 30 min; issue 3's "15 min" is the
 *   default counting window here). Each further lock doubles it, capped at 24 h.
 * - Failures while locked neither count nor extend the lock (an attacker cannot keep an account locked
 *   longer than the current period) but do refresh `lastFailureAt`.
 * - Lock history is forgotten once no failure happened and no lock ended for 24 h (equal to the cap, so a
 *   capped lock followed by a renewed attack stays at the cap). A success does not forget it.
 * - `recordSuccess` closes the window (count back to 0); it neither lifts a lock nor forgets history.
 * - `unlock` (admin, break-glass) lifts the lock and closes the window; history stays, so a continuing
 *   attack still meets longer locks.
 */
export function createLockoutService(deps: { db: Db; clock: Pick<Clock, 'now'>; policy: () => LockoutPolicy; repo?: LockoutRepo }) {
  const repo = deps.repo ?? createLockoutRepo();
  const toStatus = (lockedUntil: Date | null, now: Date): LockStatus =>
    lockedUntil !== null && lockedUntil.getTime() > now.getTime() ? { locked: true, lockedUntil } : { locked: false, lockedUntil: null };

  return {
    /** Whether the email is locked now; reads through the transaction when given one, else the root handle. */
    async status(tx: Tx | undefined, emailIndex: Buffer): Promise<LockState> {
      const now = deps.clock.now();
      const state = await repo.state(tx ?? deps.db, emailIndex);
      return { ...toStatus(state?.lockedUntil ?? null, now), counting: state?.counting ?? false };
    },

    /** Counts one failed login (atomic: concurrent failures each count). */
    async recordFailure(tx: Tx, emailIndex: Buffer): Promise<FailureOutcome> {
      const now = deps.clock.now();
      const policy = deps.policy();
      const state = await repo.recordFailure(tx, emailIndex, {
        now,
        windowCutoff: new Date(now.getTime() - policy.windowMinutes * 60_000),
        quietCutoff: new Date(now.getTime() - LOCK_HISTORY_QUIET_MS),
        maxFailures: policy.maxFailures,
        lockSeconds: lockPeriodsSeconds(policy.lockMinutes),
      });
      return { ...toStatus(state.lockedUntil, now), failures: state.failures };
    },

    async recordSuccess(tx: Tx, emailIndex: Buffer): Promise<void> {
      await repo.resetFailures(tx, emailIndex, deps.clock.now());
    },

    /** Lifts a lock; false when the email has no counter row. */
    async unlock(tx: Tx, emailIndex: Buffer): Promise<boolean> {
      return repo.unlock(tx, emailIndex, deps.clock.now());
    },
  };
}

export type LockoutService = ReturnType<typeof createLockoutService>;
