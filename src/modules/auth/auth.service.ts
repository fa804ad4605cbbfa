import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { normaliseEmail, type BlindIndex, type PasswordHasher } from '../../platform/crypto/index.js';
import type { Principal } from '../../http/principal.js';
import { EMAIL_INDEX_PURPOSE, type UsersRepo } from '../users/users.repo.js';
import type { AccessService } from './access.service.js';
import type { AuditContext, AuditRecorder } from '../audit/audit.recorder.js';
import type { AccessTokenService } from './access-token.service.js';
import type { LockoutService } from './lockout.service.js';
import type { PasswordPolicy } from './password-policy.js';
import { invalidRefreshToken, type RefreshTokenService } from './refresh-token.service.js';
import type { SessionRevocations } from './session-revocations.js';

/** The token response of login and refresh (DESIGN §6). */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/** How precisely the last-login time is kept (it feeds inactivity rules counted in days). */
const LAST_LOGIN_PRECISION_MS = 60_000;

/** Where a sign-in attempt came from (caller, address, agent, request id), for its audit events. */
export type RequestOrigin = AuditContext;

/**
 * One answer for unknown email, wrong password, locked and disabled accounts: the caller cannot
 * tell them apart (DESIGN §9 "Login timing").
 */
export const invalidCredentials = () =>
  new AppError(401, 'invalid_credentials', { detail: 'The email or password is not correct, or the account cannot sign in now.' });

/**
 * Password login, token refresh, logout and password change. Slow work (hashing) happens outside
 * transactions; every failure path does the same hash work and the same writes as a success would
 * have started with (a failure counter keyed by the blind index of the submitted email).
 */
export function createAuthService(deps: {
  db: Db;
  clock: Clock;
  blindIndex: Pick<BlindIndex, 'compute'>;
  passwordHasher: PasswordHasher;
  passwordPolicy: PasswordPolicy;
  usersRepo: Pick<UsersRepo, 'findByEmail' | 'findById' | 'recordLogin' | 'setPassword'>;
  lockout: Pick<LockoutService, 'status' | 'recordFailure' | 'recordSuccess'>;
  refreshTokens: Pick<RefreshTokenService, 'issue' | 'rotate' | 'revokeSession' | 'revokeAllForUser' | 'revokeFamily'>;
  accessTokens: Pick<AccessTokenService, 'sign'>;
  access: Pick<AccessService, 'resolve' | 'invalidate'>;
  sessions: Pick<SessionRevocations, 'endSession' | 'endAllSessions'>;
  audit: Pick<AuditRecorder, 'record' | 'recordNow'>;
}) {
  const emailIndexOf = (email: string) => deps.blindIndex.compute(normaliseEmail(email), EMAIL_INDEX_PURPOSE);

  /**
   * Counts the failure and records it, keyed by the submitted email's blind index only: the same
   * writes whether or not an account exists. The lock event is written once, by the failure that locks.
   */
  async function fail(emailIndex: Buffer, origin: RequestOrigin, wasLocked: boolean): Promise<never> {
    await deps.db.transaction().execute(async (tx) => {
      const outcome = await deps.lockout.recordFailure(tx, emailIndex);
      await deps.audit.record(tx, origin, { action: 'auth.login.failed', outcome: 'denied', subjectIndex: emailIndex, detail: { failures: outcome.failures } });
      if (outcome.locked && !wasLocked) {
        await deps.audit.record(tx, origin, { action: 'auth.account.locked', subjectIndex: emailIndex, detail: { until: outcome.lockedUntil!.toISOString() } });
      }
    });
    throw invalidCredentials();
  }

  async function mint(claims: { userId: string; sessionId: string; orgId: string | null; amr: string[]; authTime: Date }, refreshToken: string): Promise<TokenPair> {
    const access = await deps.accessTokens.sign({ sub: claims.userId, sid: claims.sessionId, orgId: claims.orgId, amr: claims.amr, authTime: claims.authTime });
    return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresIn };
  }

  return {
    async login(input: { email: string; password: string }, origin: RequestOrigin): Promise<TokenPair> {
      const emailIndex = emailIndexOf(input.email);
      const [user, lock] = await Promise.all([deps.usersRepo.findByEmail(deps.db, input.email), deps.lockout.status(undefined, emailIndex)]);
      // The same argon2 work whether or not the account exists or has a password.
      const passwordMatches = user?.passwordHash
        ? await deps.passwordHasher.verify(user.passwordHash, input.password)
        : (await deps.passwordHasher.burn(input.password), false);
      if (!user || !passwordMatches || lock.locked || user.status !== 'active') return fail(emailIndex, origin, lock.locked);

      const rehashed = user.passwordHash && deps.passwordHasher.needsRehash(user.passwordHash) ? await deps.passwordHasher.hash(input.password) : null;
      const now = deps.clock.now();
      const sessionId = newId();
      // The first organisation from the grants the next request needs anyway (cached in the store and
      // invalidated on every membership change): one database read less per login than listing memberships.
      const access = await deps.access.resolve(user.id, { tokenOrgId: null });
      if (!access) return fail(emailIndex, origin, lock.locked);
      const claims = { userId: user.id, sessionId, orgId: access.orgId, amr: ['pwd'], authTime: now };
      // Writes a success needs, and no more: a counter reset only when failures were being counted, and
      // the last-login time at most once a minute (it serves inactivity rules measured in days).
      const loginStale = !user.lastLoginAt || now.getTime() - user.lastLoginAt.getTime() >= LAST_LOGIN_PRECISION_MS;
      const refresh = await deps.db.transaction().execute(async (tx) => {
        if (lock.counting) await deps.lockout.recordSuccess(tx, emailIndex);
        if (rehashed || loginStale) await deps.usersRepo.recordLogin(tx, user.id, now, rehashed);
        const issued = await deps.refreshTokens.issue(tx, claims);
        const signedIn: AuditContext = { ...origin, actor: { type: 'user', id: user.id }, orgId: access.orgId };
        const detail = { sessionId, familyId: issued.familyId };
        await deps.audit.record(tx, signedIn, { action: 'auth.login.succeeded', resourceId: user.id, subjectIndex: emailIndex, detail });
        return issued;
      });
      return mint(claims, refresh.token);
    },

    /**
     * Rotates in one transaction with its event: a rotation or a reuse revocation commits together
     * with what it records. An invalid token changes nothing, so its event is written on its own
     * (durably, before the 401 leaves). The presenter is anonymous until the token proves a login.
     */
    async refresh(refreshToken: string, origin: RequestOrigin): Promise<TokenPair> {
      const rotated = await deps.db.transaction().execute(async (tx) => {
        const result = await deps.refreshTokens.rotate(tx, refreshToken);
        if (result.outcome === 'rotated') {
          const holder: AuditContext = { ...origin, actor: { type: 'user', id: result.family.userId }, orgId: result.family.orgId };
          await deps.audit.record(tx, holder, { action: 'auth.token.refreshed', resourceId: result.family.sessionId, detail: { familyId: result.familyId } });
        } else if (result.outcome === 'reused') {
          // A copy of a used token is in someone's hands: the whole login died with this request. The
          // family id ties it to its login (the login event carries it).
          await deps.audit.record(tx, origin, { action: 'auth.token.reuse-detected', outcome: 'denied', detail: { familyId: result.familyId } });
        }
        return result;
      });
      if (rotated.outcome === 'invalid') await deps.audit.recordNow(origin, { action: 'auth.token.refresh-failed', outcome: 'denied', detail: { reason: 'invalid' } });
      if (rotated.outcome !== 'rotated') throw invalidRefreshToken();
      const { family } = rotated;
      // A disabled or deleted account ends here, whatever its refresh tokens say.
      const access = await deps.access.resolve(family.userId, { tokenOrgId: family.orgId });
      if (!access) {
        await deps.db.transaction().execute(async (tx) => {
          await deps.refreshTokens.revokeFamily(tx, family.familyId, 'user-disabled');
          await deps.audit.record(tx, { ...origin, orgId: family.orgId }, {
            action: 'auth.token.refresh-failed',
            outcome: 'denied',
            resourceId: family.sessionId,
            detail: { reason: 'account-inactive', userId: family.userId },
          });
        });
        throw invalidRefreshToken();
      }
      return mint({ ...family, orgId: access.orgId }, rotated.token);
    },

    /** Ends this login; an API key (no login session) has nothing to end, and that is recorded too. */
    async logout(principal: Principal, origin: RequestOrigin): Promise<void> {
      const { userId, sessionId } = principal;
      if (!userId || !sessionId) {
        await deps.audit.recordNow(origin, { action: 'auth.logout', detail: { revoked: false } });
        return;
      }
      await deps.db.transaction().execute(async (tx) => {
        const revoked = await deps.refreshTokens.revokeSession(tx, userId, sessionId, 'logout');
        await deps.audit.record(tx, origin, { action: 'auth.logout', resourceId: sessionId, detail: { revoked } });
      });
      await deps.sessions.endSession(sessionId);
    },

    async logoutAll(principal: Principal, origin: RequestOrigin): Promise<void> {
      const { userId } = principal;
      if (!userId) {
        await deps.audit.recordNow(origin, { action: 'auth.logout-all', detail: { families: 0 } });
        return;
      }
      await deps.db.transaction().execute(async (tx) => {
        const families = await deps.refreshTokens.revokeAllForUser(tx, userId, 'logout-all');
        await deps.audit.record(tx, origin, { action: 'auth.logout-all', resourceId: userId, detail: { families } });
      });
      await deps.sessions.endAllSessions(userId);
    },

    /** Needs the current password; ends every session (refresh families and older access tokens). */
    async changePassword(principal: Principal, input: { currentPassword: string; newPassword: string }, origin: RequestOrigin): Promise<void> {
      const user = principal.userId ? await deps.usersRepo.findById(deps.db, principal.userId) : undefined;
      if (!user?.passwordHash) throw invalidCredentials();
      // A wrong current password counts towards lockout like a failed login.
      if (!(await deps.passwordHasher.verify(user.passwordHash, input.currentPassword))) {
        const emailIndex = emailIndexOf(user.email);
        return fail(emailIndex, origin, (await deps.lockout.status(undefined, emailIndex)).locked);
      }
      // No organisation can require MFA before the MFA module exists, so the full minimum applies.
      deps.passwordPolicy.check(input.newPassword, { email: user.email, displayName: user.displayName, orgRequiresMfa: false, field: 'newPassword' });
      const passwordHash = await deps.passwordHasher.hash(input.newPassword);
      await deps.db.transaction().execute(async (tx) => {
        const now = deps.clock.now();
        await deps.usersRepo.setPassword(tx, user.id, passwordHash, now);
        await deps.refreshTokens.revokeAllForUser(tx, user.id, 'password-changed');
        await deps.audit.record(tx, origin, { action: 'auth.password.changed', resourceId: user.id });
      });
      await deps.access.invalidate(user.id);
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
