import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { definePurgeJob, purgeInBatches } from '../../platform/jobs.js';

/**
 * Hourly MFA housekeeping (issue 8). Both tables hold only short-lived ceremony state, so a finished
 * row is worth nothing and is deleted at once: no reader tells a deleted row from an unknown one.
 * Each statement deletes at most `batch` (≤ 500) rows in its own autocommitted transaction, and the
 * job stops between batches when the queue aborts it; a second run finds nothing.
 */
export function mfaHousekeepingJobs(deps: { db: Db; clock: Pick<Clock, 'now'> }) {
  return [
    /**
     * WebAuthn challenges past their expiry. `consumeChallenge` only takes a row with `expires_at > now`,
     * so an expired one can never be used; passwordless challenges (bound to nobody) are otherwise only
     * cleaned when another challenge is inserted, which an idle instance never does.
     */
    definePurgeJob('mfa.purge-webauthn-challenges', (signal) => {
      const now = deps.clock.now();
      return purgeInBatches(signal, async (batch) => {
        const result = await deps.db
          .deleteFrom('webauthnChallenges')
          .where('id', 'in', (eb) => eb.selectFrom('webauthnChallenges').select('id').where('expiresAt', '<=', now).limit(batch))
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    }),

    /**
     * Login MFA challenges past their expiry (5 minutes). A consumed one (verified, or killed by too
     * many wrong codes) is past it within those minutes too, so the expiry alone (indexed) finds every
     * finished row. Every lookup of an mfaToken asks for `consumed_at is null and expires_at > now`,
     * so a purged token answers exactly like a reused or expired one (401). The webauthn challenge a
     * second-factor ceremony bound to it goes by cascade: at most one per MFA challenge
     * (insertChallenge replaces it), so a batch stays bounded.
     */
    definePurgeJob('mfa.purge-login-challenges', (signal) => {
      const now = deps.clock.now();
      return purgeInBatches(signal, async (batch) => {
        const result = await deps.db
          .deleteFrom('mfaChallenges')
          .where('id', 'in', (eb) => eb.selectFrom('mfaChallenges').select('id').where('expiresAt', '<=', now).limit(batch))
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    }),
  ] as const;
}
