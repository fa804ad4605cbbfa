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
import type { Tx } from '../../platform/db/transaction.js';

/** The second step of the login, as the MFA module offers it (a narrowed view of its service). */
export interface LoginMfa {
  methodsFor(executor: Db, userId: string): Promise<string[]>;
  createChallenge(tx: Tx, userId: string, passwordAt: Date): Promise<string>;
  peekChallenge(token: string): Promise<string | undefined>;
  openChallenge(tx: Tx, token: string): Promise<{ id: string; userId: string; passwordAt: Date } | undefined>;
  answerChallenge(tx: Tx, challenge: { id: string; userId: string; passwordAt: Date }, method: string, code: string): Promise<{ verified: true; amr: string[] } | { verified: false; failures: number }>;
  failChallenge(tx: Tx, challenge: { id: string; userId: string; passwordAt: Date }): Promise<number>;
}

/** Login answer when a second factor is needed (DESIGN §6). */
export interface MfaChallengeAnswer {
  mfaRequired: true;
  mfaToken: string;
  methods: string[];
}

/** How and when the user proved who they are (RFC 8176 amr and auth_time). */
export interface Authentication {
  amr: string[];
  authTime: Date;
}

/** A user whose authentication is complete, with what the completion writes need. */
interface CompletedUser {
  id: string;
  emailIndex: Buffer;
  orgId: string | null;
  lastLoginAt: Date | null;
  /** A failure window is open: the success closes it. */
  resetFailures: boolean;
  rehashedPassword: string | null;
}

/** The one answer for every failed second step: unknown, expired, used or dead token, wrong code, locked account. */
export const invalidMfa = () =>
  new AppError(401, 'invalid_mfa', { detail: 'The code is not valid, or the sign-in attempt has expired; sign in again if it keeps failing.' });

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
  /** The MFA module's login step; without it every login is password-only. */
  mfa?: LoginMfa;
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

  /**
   * The writes of a completed sign-in, in the caller's transaction: the failure window closes, the
   * last-login time (at most once a minute: it serves inactivity rules counted in days), the refresh
   * family that keeps `amr` and `auth_time` for every later access token, and the event.
   */
  async function issueLogin(tx: Tx, user: CompletedUser, how: Authentication, origin: RequestOrigin) {
    const now = deps.clock.now();
    const sessionId = newId();
    const claims = { userId: user.id, sessionId, orgId: user.orgId, amr: how.amr, authTime: how.authTime };
    const loginStale = !user.lastLoginAt || now.getTime() - user.lastLoginAt.getTime() >= LAST_LOGIN_PRECISION_MS;
    if (user.resetFailures) await deps.lockout.recordSuccess(tx, user.emailIndex);
    if (user.rehashedPassword || loginStale) await deps.usersRepo.recordLogin(tx, user.id, now, user.rehashedPassword);
    const issued = await deps.refreshTokens.issue(tx, claims);
    const signedIn: AuditContext = { ...origin, actor: { type: 'user', id: user.id }, orgId: user.orgId };
    const detail = { sessionId, familyId: issued.familyId, amr: how.amr.join(' ') };
    await deps.audit.record(tx, signedIn, { action: 'auth.login.succeeded', resourceId: user.id, subjectIndex: user.emailIndex, detail });
    return { claims, refreshToken: issued.token };
  }

  /**
   * Every completed sign-in (password only, or password and a second factor) ends here: one
   * transaction for the writes, then the delivery of the credentials. A browser-session delivery
   * (a `mode: "cookie"` login) is one more branch of this function.
   */
  async function completeLogin(user: CompletedUser, how: Authentication, origin: RequestOrigin, within?: (tx: Tx) => Promise<void>): Promise<TokenPair> {
    const issued = await deps.db.transaction().execute(async (tx) => {
      await within?.(tx);
      return issueLogin(tx, user, how, origin);
    });
    return mint(issued.claims, issued.refreshToken);
  }

  return {
    completeLogin,

    async login(input: { email: string; password: string }, origin: RequestOrigin): Promise<TokenPair | MfaChallengeAnswer> {
      const emailIndex = emailIndexOf(input.email);
      const [user, lock] = await Promise.all([deps.usersRepo.findByEmail(deps.db, input.email), deps.lockout.status(undefined, emailIndex)]);
      // The same argon2 work whether or not the account exists or has a password.
      const passwordMatches = user?.passwordHash
        ? await deps.passwordHasher.verify(user.passwordHash, input.password)
        : (await deps.passwordHasher.burn(input.password), false);
      if (!user || !passwordMatches || lock.locked || user.status !== 'active') return fail(emailIndex, origin, lock.locked);

      const rehashed = user.passwordHash && deps.passwordHasher.needsRehash(user.passwordHash) ? await deps.passwordHasher.hash(input.password) : null;
      const now = deps.clock.now();
      // The first organisation from the grants the next request needs anyway (cached in the store and
      // invalidated on every membership change): one database read less per login than listing memberships.
      const access = await deps.access.resolve(user.id, { tokenOrgId: null });
      if (!access) return fail(emailIndex, origin, lock.locked);

      const methods = deps.mfa && access.mfa.enrolled ? await deps.mfa.methodsFor(deps.db, user.id) : [];
      if (deps.mfa && methods.length > 0) {
        const mfa = deps.mfa;
        // The failure window stays open: a correct password must not wipe the count of wrong codes,
        // or password + 4 wrong codes, repeated, would guess codes without ever locking.
        const mfaToken = await deps.db.transaction().execute(async (tx) => {
          if (rehashed) await deps.usersRepo.recordLogin(tx, user.id, user.lastLoginAt ?? now, rehashed);
          const token = await mfa.createChallenge(tx, user.id, now);
          const pending: AuditContext = { ...origin, actor: { type: 'user', id: user.id }, orgId: access.orgId };
          await deps.audit.record(tx, pending, { action: 'auth.mfa.challenged', resourceId: user.id, subjectIndex: emailIndex, detail: { methods: methods.join(' ') } });
          return token;
        });
        return { mfaRequired: true, mfaToken, methods };
      }
      const completed = { id: user.id, emailIndex, orgId: access.orgId, lastLoginAt: user.lastLoginAt, resetFailures: lock.counting, rehashedPassword: rehashed };
      return completeLogin(completed, { amr: ['pwd'], authTime: now }, origin);
    },

    /**
     * The second step (DESIGN §6): the challenge is locked, the account's lock is checked, the
     * answer is checked and used, and on success the sign-in completes, all in one transaction.
     * A wrong answer counts against the challenge (dead at 5) and toward the account lockout, and
     * commits before the 401 leaves.
     */
    async verifyMfa(input: { mfaToken: string; method: string; code: string }, origin: RequestOrigin): Promise<TokenPair> {
      const mfa = deps.mfa;
      const userId = mfa ? await mfa.peekChallenge(input.mfaToken) : undefined;
      const user = userId ? await deps.usersRepo.findById(deps.db, userId) : undefined;
      const access = user ? await deps.access.resolve(user.id, { tokenOrgId: null }) : undefined;
      if (!mfa || !user || !access) {
        await deps.audit.recordNow(origin, { action: 'auth.mfa.failed', outcome: 'denied', detail: { reason: 'invalid-token' } });
        throw invalidMfa();
      }
      const emailIndex = emailIndexOf(user.email);
      const attempt = await deps.db.transaction().execute(async (tx) => {
        const challenge = await mfa.openChallenge(tx, input.mfaToken);
        // Used, expired or killed since the peek, or (impossibly) another user's: the same refusal.
        if (challenge?.userId !== user.id) return { ok: false as const, reason: 'invalid-token' };
        const actor: AuditContext = { ...origin, actor: { type: 'user', id: user.id }, orgId: access.orgId };
        const lock = await deps.lockout.status(tx, emailIndex);
        if (lock.locked) {
          await mfa.failChallenge(tx, challenge);
          await deps.audit.record(tx, actor, { action: 'auth.mfa.failed', outcome: 'denied', resourceId: user.id, subjectIndex: emailIndex, detail: { reason: 'locked', method: input.method } });
          return { ok: false as const, reason: 'locked' };
        }
        const answer = await mfa.answerChallenge(tx, challenge, input.method, input.code);
        if (!answer.verified) {
          const outcome = await deps.lockout.recordFailure(tx, emailIndex);
          const detail = { reason: 'wrong-code', method: input.method, challengeFailures: answer.failures, failures: outcome.failures };
          await deps.audit.record(tx, actor, { action: 'auth.mfa.failed', outcome: 'denied', resourceId: user.id, subjectIndex: emailIndex, detail });
          if (outcome.locked && !lock.locked) {
            await deps.audit.record(tx, origin, { action: 'auth.account.locked', subjectIndex: emailIndex, detail: { until: outcome.lockedUntil!.toISOString() } });
          }
          return { ok: false as const, reason: 'wrong-code' };
        }
        const completed = { id: user.id, emailIndex, orgId: access.orgId, lastLoginAt: user.lastLoginAt, resetFailures: lock.counting, rehashedPassword: null };
        // Its own action, so analysis rules can ask "did this user complete MFA lately" by actor.
        await deps.audit.record(tx, actor, { action: 'auth.mfa.verified', resourceId: user.id, detail: { method: input.method } });
        return { ok: true as const, issued: await issueLogin(tx, completed, { amr: answer.amr, authTime: deps.clock.now() }, origin) };
      });
      if (!attempt.ok) {
        if (attempt.reason === 'invalid-token') await deps.audit.recordNow(origin, { action: 'auth.mfa.failed', outcome: 'denied', detail: { reason: 'invalid-token' } });
        throw invalidMfa();
      }
      return mint(attempt.issued.claims, attempt.issued.refreshToken);
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
      // The shorter minimum (NIST SP 800-63B-4: 8 beside MFA) only where an organisation requires MFA of
      // the user and they have it: during the grace the password still stands alone. While required,
      // the last factor cannot be removed, so the shorter password never ends up alone.
      const mfa = (await deps.access.resolve(user.id, { tokenOrgId: null }))?.mfa;
      const orgRequiresMfa = Boolean(mfa?.required && mfa.enrolled);
      deps.passwordPolicy.check(input.newPassword, { email: user.email, displayName: user.displayName, orgRequiresMfa, field: 'newPassword' });
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
