import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { Clock } from '../../platform/clock.js';
import { normaliseEmail, type BlindIndex } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError } from '../../platform/errors.js';
import type { AccessService } from '../auth/access.service.js';
import { invalidMfa, type AuthService, type RequestOrigin, type TokenPair } from '../auth/auth.service.js';
import type { LockoutService } from '../auth/lockout.service.js';
import type { AuditContext, AuditRecorder } from '../audit/audit.recorder.js';
import { EMAIL_INDEX_PURPOSE, type UsersRepo } from '../users/users.repo.js';
import type { MfaService } from './mfa.service.js';
import type { PasskeysRepo } from './passkeys.repo.js';
import type { Ceremonies } from './passkeys-ceremony.js';

/**
 * A user-verifying passkey proves possession (`hwk`) and the user's PIN or biometric (`user`): two
 * factors in one gesture, so `mfa` too (RFC 8176). Passwordless sign-ins therefore satisfy step-up
 * and MFA policies like password + second factor do (decision, issue 8 §3; DESIGN §6).
 */
export const PASSWORDLESS_AMR = ['hwk', 'user', 'mfa'] as const;

/** The one answer for every failed passwordless sign-in: which check failed is only in the audit trail. */
export const invalidPasskeyLogin = () =>
  new AppError(401, 'invalid_passkey', { detail: 'The passkey sign-in failed or has expired; start again.' });

/**
 * The sign-in ceremonies of passkeys: options for the second step of a password login (bound to its
 * mfaToken; the answer goes to POST /auth/mfa/verify with method `passkey`), and the passwordless
 * sign-in (options bound to nobody; discoverable credentials name their account). A passwordless
 * sign-in ends in AuthService.completeLogin, the same completion as every other sign-in.
 */
export function createPasskeyLogin(deps: {
  db: Db;
  clock: Clock;
  repo: Pick<PasskeysRepo, 'listForUser'>;
  ceremonies: Ceremonies;
  mfa: Pick<MfaService, 'openChallenge'>;
  auth: Pick<AuthService, 'completeLogin'>;
  usersRepo: Pick<UsersRepo, 'findById'>;
  lockout: Pick<LockoutService, 'status'>;
  access: Pick<AccessService, 'resolve'>;
  blindIndex: Pick<BlindIndex, 'compute'>;
  audit: Pick<AuditRecorder, 'recordNow'>;
}) {
  const { ceremonies } = deps;

  async function refuse(origin: RequestOrigin, reason: string, userId?: string): Promise<never> {
    const context: AuditContext = userId ? { ...origin, actor: { type: 'user', id: userId } } : origin;
    await deps.audit.recordNow(context, { action: 'auth.passkey.failed', outcome: 'denied', ...(userId ? { resourceId: userId } : {}), detail: { reason } });
    throw invalidPasskeyLogin();
  }

  return {
    /** Options for the second step: only this login's user's passkeys are allowed; a dead token gets the MFA refusal. */
    async secondFactorOptions(mfaToken: string) {
      return deps.db.transaction().execute(async (tx: Tx) => {
        const challenge = await deps.mfa.openChallenge(tx, mfaToken);
        const passkeys = challenge ? await deps.repo.listForUser(tx, challenge.userId) : [];
        if (!challenge || passkeys.length === 0) throw invalidMfa();
        return ceremonies.authenticationOptions(tx, { purpose: 'second-factor', mfaChallengeId: challenge.id }, passkeys, deps.clock.now());
      });
    },

    /** Options for a passwordless sign-in: no account named, the authenticator offers its discoverable credentials. */
    async passwordlessOptions() {
      return deps.db.transaction().execute((tx) => ceremonies.authenticationOptions(tx, { purpose: 'passwordless' }, [], deps.clock.now()));
    },

    /**
     * Checks the assertion (its challenge used whatever the outcome, committed before the answer),
     * then the account: active, not locked, with grants. A locked account stays locked for passkeys
     * too (the lock is the account's, whatever tripped it).
     */
    async passwordlessVerify(credential: AuthenticationResponseJSON, origin: RequestOrigin): Promise<TokenPair> {
      const now = deps.clock.now();
      const outcome = await deps.db.transaction().execute((tx) => ceremonies.checkAssertion(tx, credential, { purpose: 'passwordless' }, undefined, now));
      if (!outcome.ok) return refuse(origin, outcome.reason);
      const userId = outcome.passkey.userId;
      const user = await deps.usersRepo.findById(deps.db, userId);
      if (!user || user.status !== 'active') return refuse(origin, 'account-inactive', userId);
      const emailIndex = deps.blindIndex.compute(normaliseEmail(user.email), EMAIL_INDEX_PURPOSE);
      const [lock, access] = await Promise.all([deps.lockout.status(undefined, emailIndex), deps.access.resolve(userId, { tokenOrgId: null })]);
      if (lock.locked) return refuse(origin, 'locked', userId);
      if (!access) return refuse(origin, 'account-inactive', userId);
      const completed = { id: userId, emailIndex, orgId: access.orgId, lastLoginAt: user.lastLoginAt, resetFailures: lock.counting, rehashedPassword: null };
      return deps.auth.completeLogin(completed, { amr: [...PASSWORDLESS_AMR], authTime: now }, origin);
    },
  };
}

export type PasskeyLogin = ReturnType<typeof createPasskeyLogin>;
