import type { Policy } from '../../config/policy.schema.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { normaliseEmail, type BlindIndex, type PasswordHasher } from '../../platform/crypto/index.js';
import type { RecipientBudget } from '../mail/recipient-budget.js';
import type { MailService } from '../mail/mail.service.js';
import { EMAIL_INDEX_PURPOSE, type UsersRepo } from '../users/users.repo.js';
import type { AccessService } from './access.service.js';
import type { AuditRecorder } from '../audit/audit.recorder.js';
import type { RequestOrigin } from './auth.service.js';
import type { EmailTokensService } from './email-tokens.service.js';
import type { LockoutService } from './lockout.service.js';
import type { PasswordPolicy } from './password-policy.js';
import type { RefreshTokenService } from './refresh-token.service.js';
import type { SessionRevocations } from './session-revocations.js';

const PURPOSE = 'password-reset';

/** One answer for a token that is malformed, unknown, used, revoked or expired, or whose account cannot sign in. */
export const invalidResetToken = () =>
  new AppError(400, 'invalid_token', { detail: 'The reset token is not valid: it may have expired or been used already. Ask for a new one.' });

/**
 * Forgotten-password reset by mail (ASVS V6.4.3, V6.3.8). The request answers the same whether or
 * not an account uses the address, and does comparable work either way: one transaction with an
 * UPDATE of open tokens, the mail insert and (known active accounts only) the token insert.
 *
 * Confirming proves control of the mailbox, which is exactly what an administrator's unlock would
 * rely on, so it also lifts a login lockout on that address: a user who forgot their password and
 * locked themselves out needs no administrator. The lock still stops guessing, because guessing
 * the 256-bit token is no easier than guessing the password.
 */
export function createPasswordResetService(deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  blindIndex: Pick<BlindIndex, 'compute'>;
  passwordHasher: Pick<PasswordHasher, 'hash'>;
  passwordPolicy: Pick<PasswordPolicy, 'check'>;
  usersRepo: Pick<UsersRepo, 'findByEmail' | 'findById' | 'setPassword'>;
  emailTokens: Pick<EmailTokensService, 'issue' | 'consume' | 'peek' | 'revoke'>;
  mail: Pick<MailService, 'send'>;
  lockout: Pick<LockoutService, 'status' | 'unlock'>;
  refreshTokens: Pick<RefreshTokenService, 'revokeAllForUser'>;
  sessions: Pick<SessionRevocations, 'endAllSessions'>;
  access: Pick<AccessService, 'invalidate'>;
  audit: Pick<AuditRecorder, 'record' | 'recordNow'>;
  recipientBudget: Pick<RecipientBudget, 'allow'>;
  policy: () => Pick<Policy['accounts'], 'passwordResetTtlMinutes'>;
}) {
  const emailIndexOf = (email: string) => deps.blindIndex.compute(normaliseEmail(email), EMAIL_INDEX_PURPOSE);

  /** The confirmation itself; `confirm` records a refused token. */
  async function confirmWithToken(input: { token: string; newPassword: string }, origin: RequestOrigin): Promise<void> {
    const open = await deps.emailTokens.peek(PURPOSE, input.token);
    const user = open?.userId ? await deps.usersRepo.findById(deps.db, open.userId) : undefined;
    if (!user || user.status !== 'active') throw invalidResetToken();
    deps.passwordPolicy.check(input.newPassword, { email: user.email, displayName: user.displayName, orgRequiresMfa: false, field: 'newPassword' });
    const passwordHash = await deps.passwordHasher.hash(input.newPassword);
    const emailIndex = emailIndexOf(user.email);
    await deps.db.transaction().execute(async (tx) => {
      const used = await deps.emailTokens.consume(tx, PURPOSE, input.token, user.id);
      if (used?.userId !== user.id) throw invalidResetToken();
      const now = deps.clock.now();
      await deps.usersRepo.setPassword(tx, user.id, passwordHash, now);
      await deps.emailTokens.revoke(tx, PURPOSE, { userId: user.id }, user.id);
      await deps.refreshTokens.revokeAllForUser(tx, user.id, 'password-reset');
      const lock = await deps.lockout.status(tx, emailIndex);
      await deps.lockout.unlock(tx, emailIndex);
      // The token proved who this is: the events are the account holder's own.
      const holder = { ...origin, actor: { type: 'user' as const, id: user.id } };
      await deps.audit.record(tx, holder, { action: 'auth.password.reset', resourceId: user.id, detail: { unlocked: lock.locked } });
      if (lock.locked) await deps.audit.record(tx, holder, { action: 'auth.account.unlocked', resourceId: user.id, subjectIndex: emailIndex, detail: { via: 'password-reset' } });
    });
    await deps.sessions.endAllSessions(user.id);
    await deps.access.invalidate(user.id);
  }

  return {
    /**
     * Always resolves (the route answers 202 either way); only a dependency outage throws. The event
     * is keyed by the address's blind index and is the same whether or not an account uses it.
     */
    async request(email: string, origin: RequestOrigin): Promise<void> {
      const event = { action: 'auth.password-reset.requested', subjectIndex: emailIndexOf(email) } as const;
      // Over the per-address budget the caller still gets the same 202, and no mail goes out.
      if (!(await deps.recipientBudget.allow(email))) {
        await deps.audit.recordNow(origin, { ...event, detail: { mailed: false } });
        return;
      }
      const user = await deps.usersRepo.findByEmail(deps.db, email);
      const ttlSeconds = deps.policy().passwordResetTtlMinutes * 60;
      await deps.db.transaction().execute(async (tx) => {
        await deps.audit.record(tx, origin, { ...event, detail: { mailed: true } });
        if (user && user.status === 'active') {
          // The newest mail is the only one that works: earlier open tokens of the account die.
          await deps.emailTokens.revoke(tx, PURPOSE, { userId: user.id }, null);
          const issued = await deps.emailTokens.issue(tx, { purpose: PURPOSE, email: user.email, userId: user.id, ttlSeconds });
          await deps.mail.send(tx, user.email, 'password-reset', { token: issued.token, expiresAt: issued.expiresAt });
        } else {
          // The same UPDATE shape as the known path (it matches nothing that could be used), then the notice.
          await deps.emailTokens.revoke(tx, PURPOSE, { email }, null);
          await deps.mail.send(tx, email.trim(), 'password-reset-unknown', {});
        }
      });
    },

    /**
     * Sets the new password. The token is checked without being used first, so a password the policy
     * refuses (422) leaves it usable; the slow hash runs outside the transaction; then one transaction
     * uses the token (of two concurrent confirms exactly one gets it), sets the password, ends every
     * refresh family, lifts a lockout and records the events. Access tokens die after the COMMIT.
     */
    async confirm(input: { token: string; newPassword: string }, origin: RequestOrigin): Promise<void> {
      try {
        await confirmWithToken(input, origin);
      } catch (error) {
        // A refused token is a failed authentication (someone may be guessing): on record, durably.
        if (error instanceof AppError && error.code === 'invalid_token') {
          await deps.audit.recordNow(origin, { action: 'auth.password.reset', outcome: 'denied', statusCode: error.status, detail: { reason: 'invalid-token' } });
        }
        throw error;
      }
    },
  };
}

export type PasswordResetService = ReturnType<typeof createPasswordResetService>;
