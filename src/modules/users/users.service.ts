import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { staleError, type VersionPrecondition } from '../../http/preconditions.js';
import { normaliseName } from '../../http/schemas.js';
import { errors } from '../../platform/errors.js';
import type { Principal } from '../../http/principal.js';
import type { MembershipsRepo } from '../orgs/memberships.repo.js';
import type { User, UsersRepo } from './users.repo.js';
import type { Profile, ProfileCache } from './profile-cache.js';

type ProfileUser = Pick<User, 'id' | 'email' | 'displayName' | 'platformRole' | 'mustChangePassword'>;
type ProfileOrg = { id: string; name: string; slug: string; role: string };

const toProfile = (user: ProfileUser, orgs: readonly ProfileOrg[]): Profile => ({
  id: user.id,
  email: user.email,
  displayName: user.displayName,
  platformRole: user.platformRole,
  mustChangePassword: user.mustChangePassword,
  organisations: orgs.map((org) => ({ id: org.id, name: org.name, slug: org.slug, role: org.role })),
});

export function createUsersService(deps: {
  db: Db;
  usersRepo: Pick<UsersRepo, 'findById' | 'updateDisplayName'>;
  membershipsRepo: Pick<MembershipsRepo, 'listOrgsForUser'>;
  profileCache: ProfileCache;
  clock: Pick<Clock, 'now'>;
}) {
  return {
    /** The caller's own profile: decrypted for them alone; from the profile cache when it holds it. */
    async me(principal: Principal): Promise<Profile> {
      if (!principal.userId) throw errors.unauthorized();
      const userId = principal.userId;
      const profile = await deps.profileCache.get(userId, async (): Promise<Profile | undefined> => {
        // Organisations and roles come from one join.
        const [user, orgs] = await Promise.all([deps.usersRepo.findById(deps.db, userId), deps.membershipsRepo.listOrgsForUser(deps.db, userId, 100)]);
        return user ? toProfile(user, orgs) : undefined;
      });
      if (!profile) throw errors.unauthorized();
      return profile;
    },

    /**
     * Edits the caller's own profile: the display name only. Email, roles, status and password
     * never come from this body (the route schema refuses them); optimistic locking is optional.
     * Returns the profile as GET /users/me shows it, read in the same transaction, and its version.
     */
    async updateMe(tx: Tx, principal: Principal, precondition: VersionPrecondition | undefined, input: { displayName?: string | undefined }) {
      if (!principal.userId) throw errors.unauthorized();
      let user = await deps.usersRepo.findById(tx, principal.userId);
      if (!user) throw errors.unauthorized();
      if (precondition && precondition.version !== user.version) throw staleError(precondition);
      if (input.displayName !== undefined) {
        const displayName = normaliseName(input.displayName);
        if (displayName.length === 0 || displayName.length > 200) {
          throw errors.validation([{ in: 'body', pointer: '/displayName', detail: 'must be 1 to 200 characters after normalisation' }]);
        }
        const result = await deps.usersRepo.updateDisplayName(tx, user.id, precondition?.version, displayName, deps.clock.now());
        if (result.outcome === 'missing') throw errors.unauthorized();
        if (result.outcome === 'stale') throw staleError(precondition ?? { version: user.version, via: 'body' });
        user = result.row;
      }
      const orgs = await deps.membershipsRepo.listOrgsForUser(tx, user.id, 100);
      return { version: user.version, profile: toProfile(user, orgs) };
    },
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
