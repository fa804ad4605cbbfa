import { sql, type Expression, type SqlBool } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { PlatformRole } from '../../db/schema.js';

/** An active account with no activity since the cutoff. */
export interface InactiveAccount {
  id: string;
  platformRole: PlatformRole | null;
  lastActivityAt: Date;
}

/**
 * The account's last activity: its creation, its last sign-in (password, passkey, MFA: all go through
 * `recordLogin`), its newest refresh token (a refresh is a use of the login), or an administrator's
 * re-enable. Every term is a timestamp the service wrote with its clock.
 */
const lastActivity = sql<Date>`greatest(
  users.created_at,
  users.last_login_at,
  users.reactivated_at,
  (select max(t.created_at) from refresh_tokens t join refresh_token_families f on f.id = t.family_id where f.user_id = users.id)
)`;

const inactiveSince = (cutoff: Date): Expression<SqlBool> => sql<SqlBool>`${lastActivity} < ${cutoff}`;

/**
 * SQL of the inactive-accounts job (issue 9 §5). Reads only the columns it needs (nothing decrypted).
 */
export function createInactiveAccountsRepo() {
  return {
    /** Live active accounts whose last activity lies before `cutoff`, by id after `afterId`, at most `limit`. */
    async findInactive(executor: Db | Tx, cutoff: Date, limit: number, afterId: string | undefined): Promise<InactiveAccount[]> {
      let query = executor
        .selectFrom('users')
        .select(['users.id', 'users.platformRole', lastActivity.as('lastActivityAt')])
        .where('users.status', '=', 'active')
        .where('users.deletedAt', 'is', null)
        .where(inactiveSince(cutoff));
      if (afterId) query = query.where('users.id', '>', afterId);
      const rows = await query.orderBy('users.id').limit(limit).execute();
      return rows.map((row) => ({ id: row.id, platformRole: row.platformRole, lastActivityAt: new Date(row.lastActivityAt) }));
    },

    /**
     * Disables the account only if it is still active and still inactive: a sign-in that committed
     * after the batch was read wins (the row lock of this UPDATE orders the two). Returns whether it did.
     */
    async disableIfInactive(tx: Tx, id: string, cutoff: Date, now: Date): Promise<boolean> {
      const row = await tx
        .updateTable('users')
        .set((eb) => ({ status: 'disabled', updatedAt: now, updatedBy: null, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('status', '=', 'active')
        .where('deletedAt', 'is', null)
        .where(inactiveSince(cutoff))
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    /** An administrator re-enabled the account: its inactivity clock starts again now. */
    async markReactivated(tx: Tx, id: string, now: Date): Promise<void> {
      await tx.updateTable('users').set({ reactivatedAt: now }).where('id', '=', id).execute();
    },
  };
}

export type InactiveAccountsRepo = ReturnType<typeof createInactiveAccountsRepo>;
