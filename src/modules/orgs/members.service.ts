import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError, errors } from '../../platform/errors.js';
import type { Principal } from '../../http/principal.js';
import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import type { OrgRole } from '../../db/schema.js';
import { ORG_ROLES, canGrantRole } from '../auth/permissions.js';
import type { UsersRepo } from '../users/users.repo.js';
import type { MembershipsRepo } from './memberships.repo.js';
import type { OrgsRepo } from './orgs.repo.js';
import { MANAGE_ALL_ORGS } from './orgs.service.js';

export interface MemberView {
  id: string;
  email: string;
  displayName: string;
  role: OrgRole;
  createdAt: string;
  rawContent: boolean;
  rawContentGrantedAt: string | null;
}

/** A membership row as the views need it. */
interface MemberRow {
  userId: string;
  role: OrgRole;
  createdAt: Date;
  rawContentGrantedAt: Date | null;
}

const notGrantable = () =>
  new AppError(403, 'role_not_grantable', { detail: 'Your role does not allow giving or taking away this role.' });
const rawContentNotGrantable = () =>
  new AppError(403, 'raw_content_not_grantable', { detail: 'Only an owner of this organisation gives or takes away the raw-content grant.' });
const lastOwner = () => errors.conflict('last_owner', 'The organisation would have no owner left; make someone else owner first.');
const toMemberView = (user: { id: string; email: string; displayName: string }, member: Omit<MemberRow, 'userId'>): MemberView => ({
  id: user.id,
  email: user.email,
  displayName: user.displayName,
  role: member.role,
  createdAt: member.createdAt.toISOString(),
  rawContent: member.rawContentGrantedAt !== null,
  rawContentGrantedAt: member.rawContentGrantedAt?.toISOString() ?? null,
});

/** Lower index is more power (ORG_ROLES is ordered). */
const rank = (role: OrgRole) => ORG_ROLES.indexOf(role);

/**
 * Organisation membership management. Tenancy: the organisation in the path must be the caller's
 * active organisation (the token's, or the one X-Organization-Id selected); any other answers 404
 * even if it exists. A platform super-admin (`platform:orgs:manage`) may address any live
 * organisation and acts there with an owner's rights (they could make themselves owner anyway);
 * they are still bound by the last-owner rule and may not raise their own role.
 *
 * Every role change or removal locks the organisation's owner memberships first (same order for
 * every writer), then reads the actor's and the member's current roles, so the checks see committed
 * state and two concurrent demotions cannot leave the organisation without an owner.
 */
export function createMembersService(deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  orgsRepo: Pick<OrgsRepo, 'findForMember'>;
  membershipsRepo: Pick<MembershipsRepo, 'listForOrg' | 'findLive' | 'lockLive' | 'lockOwners' | 'setRole' | 'softDelete' | 'setRawContentGrant'>;
  usersRepo: Pick<UsersRepo, 'findManyByIds'>;
}) {
  const managesAllOrgs = (principal: Principal) => principal.permissions.has(MANAGE_ALL_ORGS);

  async function requireOrg(executor: Db | Tx, principal: Principal, orgId: string) {
    if (orgId !== principal.orgId && !managesAllOrgs(principal)) throw errors.notFound('organisation');
    if (!(await deps.orgsRepo.findForMember(executor, orgId, null))) throw errors.notFound('organisation');
  }

  /** The caller's role in the organisation, read fresh in the transaction (not from a cache). */
  async function actorRole(tx: Tx, principal: Principal, orgId: string): Promise<OrgRole> {
    if (managesAllOrgs(principal)) return 'owner';
    const own = principal.userId ? await deps.membershipsRepo.findLive(tx, orgId, principal.userId) : undefined;
    if (!own) throw errors.notFound('organisation');
    return own.role;
  }

  async function viewOf(executor: Db | Tx, member: MemberRow): Promise<MemberView> {
    const [user] = await deps.usersRepo.findManyByIds(executor, [member.userId]);
    if (!user) throw errors.notFound('member');
    return toMemberView(user, member);
  }

  return {
    async list(principal: Principal, orgId: string, page: PaginationParams) {
      await requireOrg(deps.db, principal, orgId);
      const [afterId] = decodeCursor(page.cursor, 1) ?? [];
      const rows = await deps.membershipsRepo.listForOrg(deps.db, orgId, page.limit, afterId as string | undefined);
      const { items, nextCursor } = toPage(rows, page.limit, (row) => [row.id], (row) => row);
      const users = new Map((await deps.usersRepo.findManyByIds(deps.db, items.map((row) => row.userId))).map((user) => [user.id, user]));
      const members: MemberView[] = [];
      for (const row of items) {
        const user = users.get(row.userId);
        // A deleted user's memberships are deleted with it; a straggler is not shown.
        if (user) members.push(toMemberView(user, row));
      }
      return { items: members, nextCursor };
    },

    /**
     * The actor must be allowed to grant both the member's current role and the new one (an admin
     * cannot touch an owner nor make anyone owner); nobody raises their own role; the last owner
     * cannot be demoted.
     */
    async changeRole(tx: Tx, principal: Principal, orgId: string, userId: string, role: OrgRole): Promise<MemberView> {
      await requireOrg(tx, principal, orgId);
      const owners = await deps.membershipsRepo.lockOwners(tx, orgId);
      const actor = await actorRole(tx, principal, orgId);
      const member = await deps.membershipsRepo.lockLive(tx, orgId, userId);
      if (!member) throw errors.notFound('member');
      if (userId === principal.userId && rank(role) < rank(member.role)) {
        throw new AppError(403, 'own_role_escalation', { detail: 'You cannot raise your own role.' });
      }
      if (!canGrantRole(actor, member.role) || !canGrantRole(actor, role)) throw notGrantable();
      if (member.role === role) return viewOf(tx, member);
      if (member.role === 'owner' && !owners.some((id) => id !== userId)) throw lastOwner();
      await deps.membershipsRepo.setRole(tx, member.id, role, principal.userId ?? null, deps.clock.now());
      return viewOf(tx, { ...member, role });
    },

    /**
     * Removing someone else needs `members:manage` and the right to grant their role; anyone may
     * leave (a signed-in user, not an API key acting for them); never the last owner.
     */
    async remove(tx: Tx, principal: Principal, orgId: string, userId: string): Promise<void> {
      await requireOrg(tx, principal, orgId);
      const owners = await deps.membershipsRepo.lockOwners(tx, orgId);
      const leaving = userId === principal.userId;
      if (leaving && principal.type !== 'user') throw errors.forbidden('Leaving an organisation needs a signed-in user, not an API key.');
      if (!leaving && !principal.permissions.has('members:manage')) throw errors.forbidden();
      const actor = leaving ? undefined : await actorRole(tx, principal, orgId);
      const member = await deps.membershipsRepo.lockLive(tx, orgId, userId);
      if (!member) throw errors.notFound('member');
      if (actor !== undefined && !canGrantRole(actor, member.role)) throw notGrantable();
      if (member.role === 'owner' && !owners.some((id) => id !== userId)) throw lastOwner();
      await deps.membershipsRepo.softDelete(tx, member.id, principal.userId ?? null, deps.clock.now());
    },

    /**
     * Gives (`granted`) or takes away the member's raw-content grant: reading raw attack content is the
     * most sensitive access there is, so only an owner of this organisation by membership decides it (not
     * an admin, and not a platform super-admin acting from outside), nobody grants it to themselves (a
     * second owner must), and giving it needs a signed-in person, not an API key. Owners are locked first,
     * as every membership writer does, so a concurrent demotion of the actor is seen.
     */
    async setRawContent(tx: Tx, principal: Principal, orgId: string, userId: string, granted: boolean): Promise<MemberView> {
      await requireOrg(tx, principal, orgId);
      const owners = await deps.membershipsRepo.lockOwners(tx, orgId);
      if (granted && principal.type !== 'user') throw errors.forbidden('The raw-content grant is given by a signed-in owner, not by an API key.');
      if (!principal.userId || !owners.includes(principal.userId)) throw rawContentNotGrantable();
      if (granted && userId === principal.userId) {
        throw new AppError(403, 'own_raw_content_grant', { detail: 'You cannot give yourself the raw-content grant; another owner must.' });
      }
      const member = await deps.membershipsRepo.lockLive(tx, orgId, userId);
      if (!member) throw errors.notFound('member');
      // Granting again keeps the first grant's time and author (the audit trail has every call).
      if (granted === (member.rawContentGrantedAt !== null)) return viewOf(tx, member);
      const now = deps.clock.now();
      await deps.membershipsRepo.setRawContentGrant(tx, member.id, granted ? principal.userId : null, principal.userId, now);
      return viewOf(tx, { ...member, rawContentGrantedAt: granted ? now : null });
    },
  };
}

export type MembersService = ReturnType<typeof createMembersService>;
