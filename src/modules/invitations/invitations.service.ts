import type { Policy } from '../../config/policy.schema.js';
import type { Clock } from '../../platform/clock.js';
import type { PasswordHasher } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import { isUniqueViolation } from '../../platform/db/database-errors.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError, errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Principal } from '../../http/principal.js';
import { decodeCursor, toPage, type PageOf, type PaginationParams } from '../../http/pagination.js';
import type { OrgRole } from '../../db/schema.js';
import { canGrantRole } from '../auth/permissions.js';
import type { EmailTokensService } from '../auth/email-tokens.service.js';
import type { PasswordPolicy } from '../auth/password-policy.js';
import type { MailService } from '../mail/mail.service.js';
import type { MembershipsRepo } from '../orgs/memberships.repo.js';
import type { OrgsRepo } from '../orgs/orgs.repo.js';
import { MANAGE_ALL_ORGS } from '../orgs/orgs.service.js';
import type { UsersRepo } from '../users/users.repo.js';
import type { AuditContext, AuditRecorder } from '../audit/audit.recorder.js';

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired';

export interface InvitationView {
  id: string;
  email: string;
  role: OrgRole;
  status: InvitationStatus;
  expiresAt: string;
  createdAt: string;
}

export interface AcceptInvitationInput {
  token: string;
  displayName?: string | undefined;
  password?: string | undefined;
}

/** One answer for unknown, malformed, used, revoked and expired tokens: a guesser learns nothing. */
export const invalidToken = () => new AppError(400, 'invalid_token', { detail: 'The token is not valid (unknown, used, revoked or expired).' });
const alreadyMember = () => errors.conflict('already_member', 'This person is already a member of the organisation.');
const accountDisabled = () =>
  errors.conflict('account_disabled', 'The account for this email is not active; an administrator must re-enable it before the invitation can be accepted.');
const notGrantable = () => new AppError(403, 'role_not_grantable', { detail: 'Your role does not allow giving this role.' });
const missingField = (field: string) =>
  errors.validation([{ in: 'body', pointer: `/${field}`, detail: `${field} is required to create the account this invitation is for.` }]);

/** Derived from the row: a used token was accepted, a revoked one revoked, an old one expired. */
const statusOf = (row: { usedAt: Date | null; revokedAt: Date | null; expiresAt: Date }, now: Date): InvitationStatus => {
  if (row.usedAt) return 'accepted';
  if (row.revokedAt) return 'revoked';
  return row.expiresAt <= now ? 'expired' : 'pending';
};

/**
 * Invitations into an organisation (issue 3 item 2). The token goes only into the mail (outbox, same
 * transaction); the API returns and lists invitations without it. Tenancy: the organisation in the
 * path must be the caller's active one (X-Organization-Id selects another of theirs), else 404.
 * Accepting needs only the token: it proves control of the invited mailbox, so it may create the
 * account (with a policy-checked password) or add a membership to an existing one.
 */
export function createInvitationsService(deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  accounts: () => Pick<Policy['accounts'], 'invitationTtlHours'>;
  emailTokens: Pick<EmailTokensService, 'issue' | 'consume' | 'peek' | 'revoke' | 'listForOrg'>;
  mail: Pick<MailService, 'send'>;
  passwordPolicy: PasswordPolicy;
  passwordHasher: Pick<PasswordHasher, 'hash'>;
  usersRepo: Pick<UsersRepo, 'findByEmail' | 'insert'>;
  orgsRepo: Pick<OrgsRepo, 'findForMember'>;
  membershipsRepo: Pick<MembershipsRepo, 'findLive' | 'insert'>;
  audit: Pick<AuditRecorder, 'record' | 'recordNow'>;
}) {
  async function requireActiveOrg(executor: Db | Tx, principal: Principal, orgId: string) {
    if (orgId !== principal.orgId) throw errors.notFound('organisation');
    const org = await deps.orgsRepo.findForMember(executor, orgId, null);
    if (!org) throw errors.notFound('organisation');
    return org;
  }

  /** The inviter's role, read fresh in the transaction; a platform organisation manager acts as owner. */
  async function actorRole(tx: Tx, principal: Principal, orgId: string): Promise<OrgRole> {
    if (principal.permissions.has(MANAGE_ALL_ORGS)) return 'owner';
    const own = principal.userId ? await deps.membershipsRepo.findLive(tx, orgId, principal.userId) : undefined;
    if (!own) throw errors.notFound('organisation');
    return own.role;
  }

  const viewOf = (row: { id: string; email: string; role: OrgRole | null; usedAt: Date | null; revokedAt: Date | null; expiresAt: Date; createdAt: Date }, now: Date): InvitationView => ({
    id: row.id,
    email: row.email,
    role: row.role ?? 'viewer',
    status: statusOf(row, now),
    expiresAt: row.expiresAt.toISOString(),
    createdAt: row.createdAt.toISOString(),
  });

  /** The acceptance itself; `accept` records a refused token. */
  async function acceptWithToken(input: AcceptInvitationInput, origin: AuditContext): Promise<{ userId: string; orgId: string; role: OrgRole }> {
    const invitation = await deps.emailTokens.peek('invitation', input.token);
    if (!invitation?.orgId || !invitation.role) throw invalidToken();
    const known = await deps.usersRepo.findByEmail(deps.db, invitation.email);
    let newAccount: { displayName: string; passwordHash: string } | undefined;
    if (!known) {
      if (input.displayName === undefined) throw missingField('displayName');
      if (input.password === undefined) throw missingField('password');
      const displayName = input.displayName.normalize('NFKC').trim();
      if (displayName.length === 0) throw missingField('displayName');
      deps.passwordPolicy.check(input.password, { email: invitation.email, displayName, orgRequiresMfa: false, field: 'password' });
      newAccount = { displayName, passwordHash: await deps.passwordHasher.hash(input.password) };
    } else if (known.status === 'disabled') {
      throw accountDisabled();
    }

    const outcome = await deps.db
      .transaction()
      .execute(async (tx) => {
        // The token row is the peeked one (same digest), so its email is the invitation's.
        const user = await deps.usersRepo.findByEmail(tx, invitation.email);
        const userId = user?.id ?? newId();
        const token = await deps.emailTokens.consume(tx, 'invitation', input.token, userId);
        if (!token?.orgId || !token.role) throw invalidToken();
        if (!(await deps.orgsRepo.findForMember(tx, token.orgId, null))) throw invalidToken();
        const now = deps.clock.now();
        // The token proved the mailbox: the (possibly new) account holder is the actor, in the invitation's organisation.
        const holder: AuditContext = { ...origin, actor: { type: 'user', id: userId }, orgId: token.orgId };
        const event = { action: 'auth.invitation.accepted', resourceId: token.id } as const;
        if (user) {
          // Created meanwhile (e.g. by registration): the new password is not applied to it.
          if (user.status === 'disabled') throw accountDisabled();
          if (await deps.membershipsRepo.findLive(tx, token.orgId, user.id)) {
            // The token is spent either way: its use is on record, as a failure.
            await deps.audit.record(tx, holder, { ...event, outcome: 'error', statusCode: 409, detail: { reason: 'already-member' } });
            return { kind: 'already-member' as const };
          }
        } else {
          // Deleted between the check and now: the fields were not collected, so ask again.
          if (!newAccount) throw invalidToken();
          await deps.usersRepo.insert(
            tx,
            userId,
            { email: token.email, displayName: newAccount.displayName, passwordHash: newAccount.passwordHash, platformRole: null, mustChangePassword: false },
            null,
            now,
          );
        }
        await deps.membershipsRepo.insert(tx, newId(), { orgId: token.orgId, userId, role: token.role }, userId, now);
        await deps.audit.record(tx, holder, { ...event, detail: { role: token.role, newAccount: !user } });
        return { kind: 'accepted' as const, userId, orgId: token.orgId, role: token.role };
      })
      .catch((error: unknown) => {
        // Two invitations of one person accepted at once: the second membership is the duplicate.
        if (isUniqueViolation(error, 'memberships_org_user_live')) throw alreadyMember();
        if (isUniqueViolation(error, 'users_email_index_live')) throw errors.conflict('email_taken', 'An account with this email was created meanwhile; try again.');
        throw error;
      });
    // The token is used even then: an invitation into an organisation one is already in is spent.
    if (outcome.kind === 'already-member') throw alreadyMember();
    return { userId: outcome.userId, orgId: outcome.orgId, role: outcome.role };
  }

  return {
    /** A new invitation supersedes the open ones for the same email in the same organisation. */
    async invite(tx: Tx, principal: Principal, orgId: string, input: { email: string; role: OrgRole }): Promise<InvitationView> {
      const org = await requireActiveOrg(tx, principal, orgId);
      if (!canGrantRole(await actorRole(tx, principal, orgId), input.role)) throw notGrantable();
      const existing = await deps.usersRepo.findByEmail(tx, input.email);
      if (existing && (await deps.membershipsRepo.findLive(tx, orgId, existing.id))) throw alreadyMember();
      const actorId = principal.userId ?? null;
      await deps.emailTokens.revoke(tx, 'invitation', { email: input.email, orgId }, actorId);
      const ttlSeconds = deps.accounts().invitationTtlHours * 3600;
      const issued = await deps.emailTokens.issue(tx, {
        purpose: 'invitation',
        email: input.email,
        ttlSeconds,
        orgId,
        role: input.role,
        createdBy: actorId,
      });
      await deps.mail.send(tx, input.email, 'invitation', { orgName: org.name, role: input.role, token: issued.token, expiresAt: issued.expiresAt });
      return { id: issued.id, email: input.email, role: input.role, status: 'pending', expiresAt: issued.expiresAt.toISOString(), createdAt: issued.createdAt.toISOString() };
    },

    async list(principal: Principal, orgId: string, page: PaginationParams): Promise<PageOf<InvitationView>> {
      await requireActiveOrg(deps.db, principal, orgId);
      const [beforeId] = decodeCursor(page.cursor, 1) ?? [];
      const rows = await deps.emailTokens.listForOrg(orgId, 'invitation', page.limit, beforeId as string | undefined);
      const now = deps.clock.now();
      return toPage(rows, page.limit, (row) => [row.id], (row) => viewOf(row, now));
    },

    /** Revokes an open invitation of the organisation; anything else (another's, used, revoked) is 404. */
    async revoke(tx: Tx, principal: Principal, orgId: string, invitationId: string): Promise<void> {
      await requireActiveOrg(tx, principal, orgId);
      const revoked = await deps.emailTokens.revoke(tx, 'invitation', { orgId, id: invitationId }, principal.userId ?? null);
      if (revoked === 0) throw errors.notFound('invitation');
    },

    /**
     * Checks the token and, for a new account, the fields and the password policy, then hashes it
     * (all before the transaction); the transaction consumes the token, so of two concurrent accepts
     * exactly one gets it. An existing account keeps its password and name: only the membership is added.
     */
    async accept(input: AcceptInvitationInput, origin: AuditContext): Promise<{ userId: string; orgId: string; role: OrgRole }> {
      try {
        return await acceptWithToken(input, origin);
      } catch (error) {
        // A refused token is a failed authentication (someone may be guessing): on record, durably.
        if (error instanceof AppError && error.code === 'invalid_token') {
          await deps.audit.recordNow(origin, { action: 'auth.invitation.accepted', outcome: 'denied', statusCode: error.status, detail: { reason: 'invalid-token' } });
        }
        throw error;
      }
    },
  };
}

export type InvitationsService = ReturnType<typeof createInvitationsService>;
