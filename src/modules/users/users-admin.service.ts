import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { errors } from '../../platform/errors.js';
import type { Principal } from '../../http/principal.js';
import { staleError, type VersionPrecondition } from '../../http/preconditions.js';
import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import type { AccessService } from '../auth/access.service.js';
import type { RefreshTokenService } from '../auth/refresh-token.service.js';
import type { SessionRevocations } from '../auth/session-revocations.js';
import type { MembershipsRepo } from '../orgs/memberships.repo.js';
import type { User, UsersRepo } from './users.repo.js';
import type { InactiveAccountsRepo } from './inactive-accounts.repo.js';

export interface UserSummaryView {
  id: string;
  email: string;
  displayName: string;
  status: User['status'];
  platformRole: User['platformRole'];
  mustChangePassword: boolean;
  lastLoginAt: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface UserDetailView extends UserSummaryView {
  organisations: Array<{ id: string; name: string; slug: string; role: string }>;
}

export const toUserSummary = (user: User): UserSummaryView => ({
  id: user.id,
  email: user.email,
  displayName: user.displayName,
  status: user.status,
  platformRole: user.platformRole,
  mustChangePassword: user.mustChangePassword,
  lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
  createdAt: user.createdAt.toISOString(),
  updatedAt: user.updatedAt.toISOString(),
  version: user.version,
});

const refuseSelf = (action: string) =>
  errors.conflict(`cannot_${action}_self`, `You cannot ${action} your own account; ask another platform administrator.`);
const lastSuperAdmin = () =>
  errors.conflict('last_super_admin', 'This is the last active platform super-admin; appoint another one first.');

/**
 * Platform user administration (super-admins only, `platform:users:manage`): list, read, disable,
 * enable and delete accounts. Writes take the caller's transaction; `settle` must run after the
 * COMMIT so the user's very next request (access token, API key) is judged on the new state.
 */
export function createUsersAdminService(deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  usersRepo: Pick<UsersRepo, 'findById' | 'listPage' | 'setStatus' | 'softDelete' | 'lockActivePlatformRole'>;
  membershipsRepo: Pick<MembershipsRepo, 'listOrgsForUser' | 'lockOwnersOfOrgsOwnedBy' | 'softDeleteAllForUser'>;
  refreshTokens: Pick<RefreshTokenService, 'revokeAllForUser'>;
  sessions: Pick<SessionRevocations, 'endAllSessions'>;
  access: Pick<AccessService, 'invalidate'>;
  /** An administrator's re-enable restarts the inactivity clock (issue 9 §5). */
  activity: Pick<InactiveAccountsRepo, 'markReactivated'>;
}) {
  async function detail(executor: Db | Tx, user: User): Promise<UserDetailView> {
    const organisations = await deps.membershipsRepo.listOrgsForUser(executor, user.id, 100);
    return { ...toUserSummary(user), organisations };
  }

  async function target(tx: Tx, principal: Principal, userId: string, action: string): Promise<User> {
    if (userId === principal.userId) throw refuseSelf(action);
    const user = await deps.usersRepo.findById(tx, userId);
    if (!user) throw errors.notFound('user');
    return user;
  }

  /**
   * Taking an active super-admin out of service needs another one left. The active super-admins are
   * locked, so two administrators disabling each other at once cannot both succeed.
   */
  async function keepOneSuperAdmin(tx: Tx, user: User) {
    if (user.platformRole !== 'super-admin' || user.status !== 'active') return;
    const active = await deps.usersRepo.lockActivePlatformRole(tx, 'super-admin');
    if (!active.some((id) => id !== user.id)) throw lastSuperAdmin();
  }

  return {
    async list(page: PaginationParams) {
      const [afterId] = decodeCursor(page.cursor, 1) ?? [];
      const rows = await deps.usersRepo.listPage(deps.db, page.limit, afterId as string | undefined);
      return toPage(rows, page.limit, (user) => [user.id], toUserSummary);
    },

    async get(userId: string): Promise<UserDetailView> {
      const user = await deps.usersRepo.findById(deps.db, userId);
      if (!user) throw errors.notFound('user');
      return detail(deps.db, user);
    },

    /** Disables the account and revokes its refresh tokens in the same transaction. */
    async disable(tx: Tx, principal: Principal, userId: string): Promise<UserDetailView> {
      const user = await target(tx, principal, userId, 'disable');
      await keepOneSuperAdmin(tx, user);
      const updated = await deps.usersRepo.setStatus(tx, user.id, 'disabled', principal.userId ?? null, deps.clock.now());
      if (!updated) throw errors.notFound('user');
      await deps.refreshTokens.revokeAllForUser(tx, user.id, 'user-disabled');
      return detail(tx, updated);
    },

    async enable(tx: Tx, principal: Principal, userId: string): Promise<UserDetailView> {
      const now = deps.clock.now();
      const updated = await deps.usersRepo.setStatus(tx, userId, 'active', principal.userId ?? null, now);
      if (!updated) throw errors.notFound('user');
      // Otherwise the next daily run would disable an account disabled for inactivity again at once.
      await deps.activity.markReactivated(tx, updated.id, now);
      return detail(tx, updated);
    },

    /**
     * Soft-deletes the account and its memberships and revokes its refresh tokens. Refused for
     * oneself, the last active super-admin, and the last owner of any live organisation (its owner
     * memberships are locked, so a concurrent demotion cannot slip in between).
     */
    async remove(tx: Tx, principal: Principal, userId: string, precondition: VersionPrecondition): Promise<void> {
      const user = await target(tx, principal, userId, 'delete');
      await keepOneSuperAdmin(tx, user);
      const owners = await deps.membershipsRepo.lockOwnersOfOrgsOwnedBy(tx, user.id);
      if ([...owners.values()].some((ids) => !ids.some((id) => id !== user.id))) {
        throw errors.conflict('last_owner', 'The user is the last owner of an organisation; make someone else owner first.');
      }
      const now = deps.clock.now();
      const result = await deps.usersRepo.softDelete(tx, user.id, precondition.version, principal.userId ?? null, now);
      if (result.outcome === 'missing') throw errors.notFound('user');
      if (result.outcome === 'stale') throw staleError(precondition);
      await deps.membershipsRepo.softDeleteAllForUser(tx, user.id, principal.userId ?? null, now);
      await deps.refreshTokens.revokeAllForUser(tx, user.id, 'user-deleted');
    },

    /**
     * After COMMIT of a status change or deletion: ends every login of the user (access tokens die at
     * once) and drops their cached grants (API keys and tokens are judged on the new state).
     */
    async settle(userId: string, options: { endSessions: boolean }): Promise<void> {
      if (options.endSessions) await deps.sessions.endAllSessions(userId);
      await deps.access.invalidate(userId);
    },
  };
}

export type UsersAdminService = ReturnType<typeof createUsersAdminService>;
