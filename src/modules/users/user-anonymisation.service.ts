import type { Tx } from '../../platform/db/transaction.js';
import type { UsersRepo } from './users.repo.js';

/** The display name every anonymised user shows (audit views, findings, member lists). */
export const ANONYMISED_DISPLAY_NAME = 'Deleted user';

/**
 * A placeholder address per user: unique (the blind index of a live row must stay unique should the
 * row ever be restored) and under `.invalid` (RFC 2606), so no mail can ever reach anybody.
 */
export const anonymisedEmail = (userId: string) => `deleted-${userId}@anonymised.invalid`;

/**
 * Anonymisation of soft-deleted accounts, for retention (issue 9 §4, ADR 0013). The account row must
 * stay (audit events, findings and memberships name it), so its PII is replaced instead of deleted:
 * the placeholders are sealed through the users repository's one encrypted-column declaration.
 */
export function createUserAnonymisationService(deps: { usersRepo: Pick<UsersRepo, 'anonymise'> }) {
  return {
    /** True when this call anonymised the user; false when it was live or already anonymised. */
    anonymise(tx: Tx, userId: string, now: Date): Promise<boolean> {
      return deps.usersRepo.anonymise(tx, userId, { email: anonymisedEmail(userId), displayName: ANONYMISED_DISPLAY_NAME }, now);
    },
  };
}

export type UserAnonymisationService = ReturnType<typeof createUserAnonymisationService>;
