import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { errors } from '../../platform/errors.js';
import { normaliseEmail, type BlindIndex } from '../../platform/crypto/index.js';
import type { Principal } from '../../http/principal.js';
import type { MembershipsRepo } from '../orgs/memberships.repo.js';
import { EMAIL_INDEX_PURPOSE, type User, type UsersRepo } from '../users/users.repo.js';
import type { AccessService } from './access.service.js';
import { systemContext, type AuditRecorder } from '../audit/audit.recorder.js';
import type { RequestOrigin } from './auth.service.js';
import type { LockoutService } from './lockout.service.js';

/** Unlocks any account. */
export const PLATFORM_UNLOCK_PERMISSION = 'platform:users:manage';
/** Unlocks members of the caller's active organisation. */
export const ORG_UNLOCK_PERMISSION = 'members:manage';

/** What the break-glass command did, for its one line of output. */
export type BreakGlassOutcome =
  | { outcome: 'unknown-user' }
  | { outcome: 'done'; userId: string; wasLocked: boolean; status: User['status']; enabled: boolean };

/**
 * Lifting login lockouts (ASVS V6.3.1): by an administrator through the API, or by an operator with
 * the break-glass command when the only administrator is the one locked out.
 *
 * Audit choices: the API records `auth.account.unlocked` only when a lock was in force (an unlock of
 * an unlocked account changes nothing, and a retried request must not multiply events); break-glass
 * always records, because an operator acting outside the API is itself the event worth keeping.
 */
export function createUnlockService(deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  blindIndex: Pick<BlindIndex, 'compute'>;
  usersRepo: Pick<UsersRepo, 'findById' | 'findByEmail' | 'setStatus'>;
  membershipsRepo: Pick<MembershipsRepo, 'findLive'>;
  lockout: Pick<LockoutService, 'status' | 'unlock'>;
  access: Pick<AccessService, 'invalidate'>;
  audit: Pick<AuditRecorder, 'record'>;
}) {
  // Lockout counters are keyed by the current key version's index of the submitted email, as login computes it.
  const emailIndexOf = (email: string) => deps.blindIndex.compute(normaliseEmail(email), EMAIL_INDEX_PURPOSE);

  /**
   * Platform administrators reach every account; organisation administrators only members of their
   * active organisation. Anyone else's account answers 404, like an account that does not exist.
   */
  async function reachable(tx: Tx, principal: Principal, userId: string): Promise<User> {
    const user = await deps.usersRepo.findById(tx, userId);
    if (!user) throw errors.notFound('user');
    if (principal.permissions.has(PLATFORM_UNLOCK_PERMISSION)) return user;
    const member = principal.orgId && principal.permissions.has(ORG_UNLOCK_PERMISSION) ? await deps.membershipsRepo.findLive(tx, principal.orgId, userId) : undefined;
    if (!member) throw errors.notFound('user');
    return user;
  }

  async function lift(tx: Tx, user: User) {
    const emailIndex = emailIndexOf(user.email);
    const { locked } = await deps.lockout.status(tx, emailIndex);
    await deps.lockout.unlock(tx, emailIndex);
    return { emailIndex, wasLocked: locked };
  }

  return {
    /** In the caller's transaction; idempotent (an account without a lock is left as it is). */
    async unlockByAdmin(tx: Tx, principal: Principal, userId: string, origin: RequestOrigin): Promise<{ wasLocked: boolean }> {
      const user = await reachable(tx, principal, userId);
      const { emailIndex, wasLocked } = await lift(tx, user);
      // Every call is a `user.unlocked` write event (the route declares it); a lifted lock is an auth event too.
      if (wasLocked) await deps.audit.record(tx, origin, { action: 'auth.account.unlocked', resourceId: user.id, subjectIndex: emailIndex, detail: { via: 'admin' } });
      return { wasLocked };
    },

    /**
     * The operator's command: lifts the lock of the account with this email. A disabled account stays
     * disabled unless `enable` is asked for explicitly: disabling is an administrator's decision that a
     * lockout command must not undo by accident.
     */
    async breakGlass(email: string, options: { enable: boolean }): Promise<BreakGlassOutcome> {
      const found = await deps.usersRepo.findByEmail(deps.db, email);
      if (!found) return { outcome: 'unknown-user' };
      const result = await deps.db.transaction().execute(async (tx) => {
        const { emailIndex, wasLocked } = await lift(tx, found);
        const now = deps.clock.now();
        const enable = options.enable && found.status !== 'active';
        const status = enable ? ((await deps.usersRepo.setStatus(tx, found.id, 'active', null, now))?.status ?? found.status) : found.status;
        await deps.audit.record(tx, systemContext('admin:unlock'), {
          action: 'auth.account.unlocked',
          resourceId: found.id,
          subjectIndex: emailIndex,
          detail: { via: 'break-glass', wasLocked, enabled: enable },
        });
        return { outcome: 'done' as const, userId: found.id, wasLocked, status, enabled: enable };
      });
      if (result.enabled) await deps.access.invalidate(found.id);
      return result;
    },
  };
}

export type UnlockService = ReturnType<typeof createUnlockService>;
