import type { Db } from '../../platform/db/database.js';
import { errors } from '../../platform/errors.js';
import type { Principal } from '../../http/principal.js';
import type { MembershipsRepo } from '../orgs/memberships.repo.js';
import type { OrgsRepo } from '../orgs/orgs.repo.js';
import type { UsersRepo } from './users.repo.js';

export function createUsersService(deps: {
  db: Db;
  usersRepo: Pick<UsersRepo, 'findById'>;
  orgsRepo: Pick<OrgsRepo, 'listForMember'>;
  membershipsRepo: Pick<MembershipsRepo, 'listForUser'>;
}) {
  return {
    /** The caller's own profile: decrypted for them alone. */
    async me(principal: Principal) {
      const user = principal.userId ? await deps.usersRepo.findById(deps.db, principal.userId) : undefined;
      if (!user) throw errors.unauthorized();
      const [memberships, orgs] = await Promise.all([
        deps.membershipsRepo.listForUser(deps.db, user.id),
        deps.orgsRepo.listForMember(user.id, 100, undefined),
      ]);
      const roleOf = new Map(memberships.map((membership) => [membership.orgId, membership.role]));
      return {
        id: user.id,
        email: user.email,
        displayName: user.displayName,
        platformRole: user.platformRole,
        mustChangePassword: user.mustChangePassword,
        organisations: orgs.slice(0, 100).map((org) => ({ id: org.id, name: org.name, slug: org.slug, role: roleOf.get(org.id) ?? 'viewer' })),
      };
    },
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
