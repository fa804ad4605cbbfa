import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { errors } from '../../platform/errors.js';
import type { Principal } from '../../http/principal.js';
import type { RefreshTokenService } from '../auth/refresh-token.service.js';
import type { SessionRevocations } from '../auth/session-revocations.js';
import { ORG_UNLOCK_PERMISSION, PLATFORM_UNLOCK_PERMISSION } from '../auth/unlock.service.js';
import type { MembershipsRepo } from '../orgs/memberships.repo.js';
import type { UsersRepo } from '../users/users.repo.js';

/** Ends any user's sessions. */
export const PLATFORM_SESSIONS_PERMISSION = PLATFORM_UNLOCK_PERMISSION;
/** Ends the sessions of members of the caller's active organisation. */
export const ORG_SESSIONS_PERMISSION = ORG_UNLOCK_PERMISSION;

/**
 * Administrators ending a user's sessions (ASVS V7.4.5), with the reach of the unlock rules
 * (unlock.service.ts): platform administrators any account, organisation owners and admins the
 * members of their active organisation; anyone else's account answers 404. Part of identity, so it
 * reads the user and membership repositories directly (ADR 0006).
 *
 * "Sessions" means every login of the user: browser sessions and bearer logins alike (their refresh
 * families die in the transaction; their access tokens and browser sessions right after COMMIT).
 */
export function createSessionAdminService(deps: {
  db: Db;
  usersRepo: Pick<UsersRepo, 'findById'>;
  membershipsRepo: Pick<MembershipsRepo, 'findLive'>;
  refreshTokens: Pick<RefreshTokenService, 'revokeAllForUser'>;
  sessions: Pick<SessionRevocations, 'endAllSessions'>;
}) {
  return {
    /** In the route's transaction: checks the reach and revokes the refresh families. */
    async revokeForUser(tx: Tx, principal: Principal, userId: string): Promise<void> {
      const user = await deps.usersRepo.findById(tx, userId);
      if (!user) throw errors.notFound('user');
      if (!principal.permissions.has(PLATFORM_SESSIONS_PERMISSION)) {
        const member = principal.orgId && principal.permissions.has(ORG_SESSIONS_PERMISSION) ? await deps.membershipsRepo.findLive(tx, principal.orgId, userId) : undefined;
        if (!member) throw errors.notFound('user');
      }
      await deps.refreshTokens.revokeAllForUser(tx, userId, 'admin-revoked');
    },

    /** After COMMIT: access tokens and browser sessions end at once (SessionRevocations ends both). */
    async settle(userId: string): Promise<void> {
      await deps.sessions.endAllSessions(userId);
    },
  };
}

export type SessionAdminService = ReturnType<typeof createSessionAdminService>;
