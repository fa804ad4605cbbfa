import type { Policy } from '../../config/policy.schema.js';
import type { Clock } from '../../platform/clock.js';
import { normaliseEmail, type BlindIndex, type PasswordHasher } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import { isUniqueViolation } from '../../platform/db/database-errors.js';
import { AppError, errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { MailService } from '../mail/mail.service.js';
import type { RecipientBudget } from '../mail/recipient-budget.js';
import { EMAIL_INDEX_PURPOSE, type UsersRepo } from '../users/users.repo.js';
import type { AuditContext, AuditRecorder } from '../audit/audit.recorder.js';
import type { EmailTokensService } from './email-tokens.service.js';
import type { PasswordPolicy } from './password-policy.js';

export interface RegistrationInput {
  email: string;
  displayName: string;
  password: string;
}

/** What a registration token carries until confirmed (an encrypted column): never the plain password. */
interface PendingAccount {
  displayName: string;
  passwordHash: string;
}

const isPendingAccount = (value: unknown): value is PendingAccount =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as PendingAccount).displayName === 'string' &&
  typeof (value as PendingAccount).passwordHash === 'string';

const invalidToken = () => new AppError(400, 'invalid_token', { detail: 'The token is not valid (unknown, used, revoked or expired).' });

/**
 * Self-registration (issue 3 item 2), off unless the policy turns it on. The answer to a request never
 * says whether the email has an account (ASVS 6.3.8): both cases run the same checks and the same hash
 * and answer the same 202; only the mailbox owner learns which mail was sent. The account exists only
 * once the mailed token is confirmed, and has no organisation until someone invites it.
 */
export function createRegistrationService(deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  accounts: () => Pick<Policy['accounts'], 'selfRegistration' | 'registrationTtlHours'>;
  emailTokens: Pick<EmailTokensService, 'issue' | 'consume' | 'revoke'>;
  mail: Pick<MailService, 'send'>;
  passwordPolicy: PasswordPolicy;
  passwordHasher: Pick<PasswordHasher, 'hash'>;
  usersRepo: Pick<UsersRepo, 'findByEmail' | 'insert'>;
  recipientBudget: Pick<RecipientBudget, 'allow'>;
  blindIndex: Pick<BlindIndex, 'compute'>;
  audit: Pick<AuditRecorder, 'record' | 'recordNow'>;
}) {
  const requireEnabled = () => {
    if (!deps.accounts().selfRegistration) {
      throw new AppError(403, 'registration_disabled', { detail: 'Self-registration is turned off; ask an administrator for an invitation.' });
    }
  };

  return {
    /** The event is keyed by the address's blind index and is the same whether or not the email is taken. */
    async register(input: RegistrationInput, origin: AuditContext): Promise<{ status: 'confirmation-sent' }> {
      requireEnabled();
      const displayName = input.displayName.normalize('NFKC').trim();
      if (displayName.length === 0) throw errors.validation([{ in: 'body', pointer: '/displayName', detail: 'displayName must not be blank.' }]);
      // Before any lookup, so a refusal cannot depend on whether the email is taken.
      deps.passwordPolicy.check(input.password, { email: input.email, displayName, orgRequiresMfa: false, field: 'password' });
      const passwordHash = await deps.passwordHasher.hash(input.password);
      const { registrationTtlHours } = deps.accounts();
      const event = { action: 'auth.registration.requested', subjectIndex: deps.blindIndex.compute(normaliseEmail(input.email), EMAIL_INDEX_PURPOSE) } as const;
      // Over the per-address budget (shared with password resets) the answer is the same, and no mail goes out.
      if (!(await deps.recipientBudget.allow(input.email))) {
        await deps.audit.recordNow(origin, { ...event, detail: { mailed: false } });
        return { status: 'confirmation-sent' };
      }
      await deps.db.transaction().execute(async (tx) => {
        await deps.audit.record(tx, origin, { ...event, detail: { mailed: true } });
        if (await deps.usersRepo.findByEmail(tx, input.email)) {
          await deps.mail.send(tx, input.email, 'registration-exists', {});
          return;
        }
        // The latest request wins: earlier confirmation links for this address stop working.
        await deps.emailTokens.revoke(tx, 'registration', { email: input.email }, null);
        const payload: PendingAccount = { displayName, passwordHash };
        const issued = await deps.emailTokens.issue(tx, { purpose: 'registration', email: input.email, ttlSeconds: registrationTtlHours * 3600, payload });
        await deps.mail.send(tx, input.email, 'registration', { token: issued.token, expiresAt: issued.expiresAt });
      });
      return { status: 'confirmation-sent' };
    },

    /**
     * Creates the active account from a confirmed token; a taken email (registered meanwhile) is 409.
     * Turning registration off also stops confirmations still in flight.
     */
    async confirm(token: string, origin: AuditContext): Promise<{ userId: string }> {
      requireEnabled();
      const userId = newId();
      await deps.db
        .transaction()
        .execute(async (tx) => {
          const row = await deps.emailTokens.consume(tx, 'registration', token, userId);
          if (!row || !isPendingAccount(row.payload)) throw invalidToken();
          await deps.usersRepo.insert(
            tx,
            userId,
            { email: row.email, displayName: row.payload.displayName, passwordHash: row.payload.passwordHash, platformRole: null, mustChangePassword: false },
            null,
            deps.clock.now(),
          );
          // The token proved the mailbox: the new account holder is the actor.
          await deps.audit.record(tx, { ...origin, actor: { type: 'user', id: userId } }, { action: 'auth.registration.confirmed', resourceId: userId });
        })
        .catch(async (error: unknown) => {
          if (isUniqueViolation(error, 'users_email_index_live')) throw errors.conflict('email_taken', 'An account with this email exists already; sign in instead.');
          // A refused token is a failed authentication (someone may be guessing): on record, durably.
          if (error instanceof AppError && error.code === 'invalid_token') {
            await deps.audit.recordNow(origin, { action: 'auth.registration.confirmed', outcome: 'denied', statusCode: error.status, detail: { reason: 'invalid-token' } });
          }
          throw error;
        });
      return { userId };
    },
  };
}

export type RegistrationService = ReturnType<typeof createRegistrationService>;
