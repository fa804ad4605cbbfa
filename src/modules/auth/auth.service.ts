import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { normaliseEmail, type BlindIndex, type PasswordHasher } from '../../platform/crypto/index.js';
import type { Principal } from '../../http/principal.js';
import { EMAIL_INDEX_PURPOSE, type UsersRepo } from '../users/users.repo.js';
import type { AccessService } from './access.service.js';
import type { AuthEventsRepo } from './auth-events.repo.js';
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

/** Where a sign-in attempt came from, for its auth event. */
export interface RequestOrigin {
  ip: string;
  requestId: string;
}

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
  refreshTokens: Pick<RefreshTokenService, 'issue' | 'refresh' | 'revokeSession' | 'revokeAllForUser' | 'revokeFamily'>;
  accessTokens: Pick<AccessTokenService, 'sign'>;
  access: Pick<AccessService, 'resolve' | 'invalidate'>;
  sessions: Pick<SessionRevocations, 'endSession' | 'endAllSessions'>;
  authEvents: Pick<AuthEventsRepo, 'record'>;
}) {
  const emailIndexOf = (email: string) => deps.blindIndex.compute(normaliseEmail(email), EMAIL_INDEX_PURPOSE);

  /**
   * Counts the failure and records it, keyed by the submitted email's blind index only: the same
   * writes whether or not an account exists. The lock event is written once, by the failure that locks.
   */
  async function fail(emailIndex: Buffer, origin: RequestOrigin, wasLocked: boolean): Promise<never> {
    await deps.db.transaction().execute(async (tx) => {
      const outcome = await deps.lockout.recordFailure(tx, emailIndex);
      const now = deps.clock.now();
      const event = { emailIndex, ip: origin.ip, requestId: origin.requestId };
      await deps.authEvents.record(tx, { ...event, type: 'auth.login.failed', detail: { failures: outcome.failures } }, now);
      if (outcome.locked && !wasLocked) {
        await deps.authEvents.record(tx, { ...event, type: 'auth.account.locked', detail: { until: outcome.lockedUntil!.toISOString() } }, now);
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
        await deps.authEvents.record(tx, { type: 'auth.login.succeeded', userId: user.id, emailIndex, ip: origin.ip, requestId: origin.requestId }, now);
        return deps.refreshTokens.issue(tx, claims);
      });
      return mint(claims, refresh.token);
    },

    async refresh(refreshToken: string): Promise<TokenPair> {
      const rotated = await deps.refreshTokens.refresh(refreshToken);
      const { family } = rotated;
      // A disabled or deleted account ends here, whatever its refresh tokens say.
      const access = await deps.access.resolve(family.userId, { tokenOrgId: family.orgId });
      if (!access) {
        await deps.db.transaction().execute((tx) => deps.refreshTokens.revokeFamily(tx, family.familyId, 'user-disabled'));
        throw invalidRefreshToken();
      }
      return mint({ ...family, orgId: access.orgId }, rotated.token);
    },

    async logout(principal: Principal): Promise<void> {
      if (!principal.userId || !principal.sessionId) return;
      await deps.db.transaction().execute((tx) => deps.refreshTokens.revokeSession(tx, principal.userId!, principal.sessionId!, 'logout'));
      await deps.sessions.endSession(principal.sessionId);
    },

    async logoutAll(principal: Principal): Promise<void> {
      if (!principal.userId) return;
      await deps.db.transaction().execute((tx) => deps.refreshTokens.revokeAllForUser(tx, principal.userId!, 'logout-all'));
      await deps.sessions.endAllSessions(principal.userId);
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
        await deps.authEvents.record(tx, { type: 'auth.password.changed', userId: user.id, ip: origin.ip, requestId: origin.requestId }, now);
      });
      await deps.access.invalidate(user.id);
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
