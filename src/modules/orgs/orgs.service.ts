import type { Clock } from '../../platform/clock.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { Db } from '../../platform/db/database.js';
import { isUniqueViolation } from '../../platform/db/database-errors.js';
import { errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Principal } from '../../http/principal.js';
import { staleError, type VersionPrecondition } from '../../http/preconditions.js';
import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import { normaliseName } from '../../http/schemas.js';
import type { Organisation, OrgsRepo, VersionedWrite } from './orgs.repo.js';
import type { MembershipsRepo } from './memberships.repo.js';

/** Platform-wide permission that sees every organisation, member or not. */
export const MANAGE_ALL_ORGS = 'platform:orgs:manage';

export interface OrgView {
  id: string;
  name: string;
  slug: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export const toOrgView = (org: Organisation): OrgView => ({
  id: org.id,
  name: org.name,
  slug: org.slug,
  version: org.version,
  createdAt: org.createdAt.toISOString(),
  updatedAt: org.updatedAt.toISOString(),
});

const slugTaken = () => errors.conflict('slug_taken', 'Another organisation already uses this slug.');

export function createOrgsService(deps: {
  db: Db;
  orgsRepo: OrgsRepo;
  membershipsRepo: Pick<MembershipsRepo, 'insert' | 'listUserIds'>;
  clock: Clock;
}) {
  /** Members see their organisations; platform managers see all; anyone else gets 404, never 403. */
  const visibleTo = (principal: Principal) => (principal.permissions.has(MANAGE_ALL_ORGS) ? null : principal.userId ?? '\u0000');

  const settle = (result: VersionedWrite<Organisation>, precondition: VersionPrecondition) => {
    if (result.outcome === 'missing') throw errors.notFound('organisation');
    if (result.outcome === 'stale') throw staleError(precondition);
    return result.row;
  };

  const requireVisible = async (tx: Tx, principal: Principal, orgId: string) => {
    if (!(await deps.orgsRepo.findForMember(tx, orgId, visibleTo(principal)))) throw errors.notFound('organisation');
  };

  return {
    async get(principal: Principal, orgId: string): Promise<Organisation> {
      const org = await deps.orgsRepo.findForMember(deps.db, orgId, visibleTo(principal));
      if (!org) throw errors.notFound('organisation');
      return org;
    },

    async list(principal: Principal, page: PaginationParams) {
      const [afterId] = decodeCursor(page.cursor, 1) ?? [];
      const rows = await deps.orgsRepo.listForMember(visibleTo(principal), page.limit, afterId as string | undefined);
      return toPage(rows, page.limit, (org) => [org.id], toOrgView);
    },

    /** Creates an organisation with its creator as owner. */
    async create(tx: Tx, principal: Principal, input: { name: string; slug: string }): Promise<Organisation> {
      const now = deps.clock.now();
      const actor = principal.userId ?? null;
      try {
        const org = await deps.orgsRepo.insert(tx, newId(), { name: normaliseName(input.name), slug: input.slug }, actor, now);
        if (actor) await deps.membershipsRepo.insert(tx, newId(), { orgId: org.id, userId: actor, role: 'owner' }, actor, now);
        return org;
      } catch (error) {
        if (isUniqueViolation(error)) throw slugTaken();
        throw error;
      }
    },

    async update(tx: Tx, principal: Principal, orgId: string, precondition: VersionPrecondition, input: { name?: string; slug?: string }) {
      await requireVisible(tx, principal, orgId);
      const values = { ...(input.name !== undefined ? { name: normaliseName(input.name) } : {}), ...(input.slug !== undefined ? { slug: input.slug } : {}) };
      try {
        return settle(await deps.orgsRepo.update(tx, orgId, precondition.version, values, principal.userId ?? null, deps.clock.now()), precondition);
      } catch (error) {
        if (isUniqueViolation(error)) throw slugTaken();
        throw error;
      }
    },

    /** Who must have their cached profile dropped when the organisation is renamed or deleted. */
    memberIds: (orgId: string) => deps.membershipsRepo.listUserIds(deps.db, orgId),

    async remove(tx: Tx, principal: Principal, orgId: string, precondition: VersionPrecondition): Promise<void> {
      await requireVisible(tx, principal, orgId);
      settle(await deps.orgsRepo.softDelete(tx, orgId, precondition.version, principal.userId ?? null, deps.clock.now()), precondition);
    },
  };
}

export type OrgsService = ReturnType<typeof createOrgsService>;
