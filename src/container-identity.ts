import type { Config } from './config/config.js';
import type { Keys } from './config/keys.js';
import type { PolicySnapshot } from './config/policy-file.js';
import type { Clock } from './platform/clock.js';
import { createPasswordHasher, type BlindIndex, type FieldCipher } from './platform/crypto/index.js';
import type { Db } from './platform/db/database.js';
import type { Logger } from './platform/logger.js';
import type { Store } from './platform/stores/index.js';
import type { PolicyService } from './modules/policy/policy.service.js';
import { createMembershipsRepo } from './modules/orgs/memberships.repo.js';
import { createOrgsRepo } from './modules/orgs/orgs.repo.js';
import { createOrgsService } from './modules/orgs/orgs.service.js';
import { createMembersService } from './modules/orgs/members.service.js';
import { createAccessTokenService } from './modules/auth/access-token.service.js';
import { createAccessService } from './modules/auth/access.service.js';
import { createAuthService } from './modules/auth/auth.service.js';
import type { AuditRecorder } from './modules/audit/audit.recorder.js';
import type { EmailTokensRepo } from './modules/auth/email-tokens.repo.js';
import { createEmailTokensService } from './modules/auth/email-tokens.service.js';
import { createBearerAuthenticator } from './modules/auth/bearer.authenticator.js';
import { createLockoutService } from './modules/auth/lockout.service.js';
import { loadPasswordBlocklist } from './modules/auth/password-blocklist.js';
import { createPasswordPolicy } from './modules/auth/password-policy.js';
import { createZxcvbnEstimator } from './modules/auth/password-policy-strength.js';
import { createPasswordResetService } from './modules/auth/password-reset.service.js';
import { createRefreshTokenService } from './modules/auth/refresh-token.service.js';
import { createRegistrationService } from './modules/auth/registration.service.js';
import { createSessionRevocations } from './modules/auth/session-revocations.js';
import { createUnlockService } from './modules/auth/unlock.service.js';
import type { MailRepo } from './modules/mail/mail.repo.js';
import { createMailService } from './modules/mail/mail.service.js';
import { createRecipientBudget } from './modules/mail/recipient-budget.js';
import { createInvitationsService } from './modules/invitations/invitations.service.js';
import { createUsersRepo } from './modules/users/users.repo.js';
import { createUsersService } from './modules/users/users.service.js';
import { createProfileCache } from './modules/users/profile-cache.js';
import { createUsersAdminService } from './modules/users/users-admin.service.js';
import { createInactiveAccountsRepo } from './modules/users/inactive-accounts.repo.js';
import { createInactiveAccountsService } from './modules/users/inactive-accounts.service.js';
import { createBootstrapService } from './modules/users/bootstrap.service.js';
import { createApiKeyAuthenticator } from './modules/api-keys/api-key.authenticator.js';
import { createApiKeysRepo } from './modules/api-keys/api-keys.repo.js';
import { createApiKeysService } from './modules/api-keys/api-keys.service.js';
import { createCsrfGuard } from './http/csrf.js';
import { createBrowserSessionStore } from './modules/sessions/browser-sessions.store.js';
import { createBrowserSessionService } from './modules/sessions/browser-sessions.service.js';
import { createCookieAuthenticator } from './modules/sessions/cookie.authenticator.js';
import { createSessionAdminService } from './modules/sessions/session-admin.service.js';
import { createBrowserLogin } from './modules/sessions/browser-login.js';
import { createMfaRepo } from './modules/mfa/mfa.repo.js';
import { createMfaMethods } from './modules/mfa/mfa-methods.js';
import { createMfaService } from './modules/mfa/mfa.service.js';
import { mfaRequirementOf } from './modules/mfa/mfa-requirement.js';
import { createPasskeysRepo } from './modules/mfa/passkeys.repo.js';
import { createCeremonies, relyingPartyOf } from './modules/mfa/passkeys-ceremony.js';
import { createPasskeyMethod, createPasskeysService } from './modules/mfa/passkeys.service.js';
import { createPasskeyLogin } from './modules/mfa/passkeys-login.js';

/** How long a user's grants and profile stay cached in the shared store; every change invalidates them at once anyway. */
const ACCESS_CACHE_TTL_SECONDS = 30;

/**
 * The identity half of the composition root (issue 3): users, organisations and memberships,
 * authentication, tokens, API keys, invitations, resets, unlock and mail. Kept apart from
 * container.ts so each file stays readable; only the container calls this.
 */
export function createIdentityModules(deps: {
  config: Config;
  keys: Keys;
  db: Db;
  store: Store;
  clock: Clock;
  cipher: FieldCipher;
  blindIndex: BlindIndex;
  policy: PolicyService;
  initialPolicy: PolicySnapshot;
  logger: Logger;
  mailRepo: MailRepo;
  emailTokensRepo: EmailTokensRepo;
  audit: Pick<AuditRecorder, 'record' | 'recordNow'>;
}) {
  const { config, db, store, clock, cipher, blindIndex, policy, mailRepo } = deps;
  const { password: hashParams } = deps.initialPolicy.policy;
  const passwordHasher = createPasswordHasher({
    memoryCostKiB: hashParams.hashMemoryCostKiB,
    timeCost: hashParams.hashTimeCost,
    parallelism: hashParams.hashParallelism,
  });
  const usersRepo = createUsersRepo({ db, cipher, blindIndex });
  const orgsRepo = createOrgsRepo({ db });
  const membershipsRepo = createMembershipsRepo();
  const apiKeysRepo = createApiKeysRepo({ db, cipher });
  const mfaRepo = createMfaRepo({ cipher });
  const mail = createMailService({ mailRepo, blindIndex, clock, publicUrl: config.publicUrl });
  // The second-factor methods of the login flow: one entry per method (a passkey method joins here).
  // Passkeys (issue 8 §3): the relying party is PUBLIC_URL's host and origin.
  const passkeysRepo = createPasskeysRepo();
  const relyingParty = relyingPartyOf(config.publicUrl);
  const ceremonies = createCeremonies({ repo: passkeysRepo, rp: relyingParty });
  const mfa = createMfaService({
    db,
    clock,
    mfaRepo,
    methods: { ...createMfaMethods({ mfaRepo, blindIndex }), passkey: createPasskeyMethod({ repo: passkeysRepo, ceremonies }) },
    blindIndex,
    usersRepo,
    mail,
    policy: () => policy.current().mfa,
  });

  // The API is its own audience; the OAuth/OIDC server will share the issuer and the JWKS.
  const accessTokens = createAccessTokenService({
    keyring: deps.keys.JWT_SIGNING_KEYS,
    issuer: config.publicUrl,
    audience: `${config.publicUrl}/api`,
    clock,
    ttlSeconds: () => policy.current().tokens.accessTtlSeconds,
  });
  const grants = createAccessService({
    store,
    clock,
    cacheTtlSeconds: ACCESS_CACHE_TTL_SECONDS,
    mfaRequirement: (facts, nowMs) => mfaRequirementOf(facts.orgs, facts.enrolled, policy.current().mfa, nowMs),
    loadGrants: async (userId) => {
      const [grants, memberships, mfaGrants] = await Promise.all([usersRepo.findGrants(db, userId), membershipsRepo.listForUser(db, userId), mfa.grantsFor(db, userId)]);
      if (!grants) return undefined;
      return {
        status: grants.status,
        platformRole: grants.platformRole,
        mustChangePassword: grants.mustChangePassword,
        credentialsChangedAtMs: grants.credentialsChangedAt?.getTime() ?? null,
        memberships,
        mfa: mfaGrants,
      };
    },
  });
  const profileCache = createProfileCache({ store, cipher, clock, ttlSeconds: ACCESS_CACHE_TTL_SECONDS });
  // Whatever changes a user's grants (status, roles, password) may change their profile too, and
  // every such change already invalidates the grants: one call drops both.
  const access: typeof grants = {
    ...grants,
    invalidate: async (userId) => {
      await Promise.all([grants.invalidate(userId), profileCache.invalidate(userId)]);
    },
  };
  const refreshTokens = createRefreshTokenService({
    db,
    clock,
    lifetimes: () => {
      const { refreshIdleMinutes, refreshAbsoluteHours } = policy.current().tokens;
      return { idleSeconds: refreshIdleMinutes * 60, absoluteSeconds: refreshAbsoluteHours * 3600 };
    },
  });
  const passwordPolicy = createPasswordPolicy({
    blocklist: loadPasswordBlocklist(),
    policy: () => policy.current().password,
    strength: createZxcvbnEstimator(),
  });
  // Browser sessions (issue 8 §6). Every way a login ends (logout, logout-all, disable, delete, password
  // reset, admin revocation) goes through SessionRevocations, so ending one ends the browser sessions too.
  const browserSessions = createBrowserSessionService({
    sessionStore: createBrowserSessionStore(store),
    clock,
    cipher,
    access,
    audit: deps.audit,
    policy: () => policy.current().sessions,
  });
  const revocations = createSessionRevocations({ store, clock });
  const sessions: typeof revocations = {
    ...revocations,
    endSession: async (sessionId) => {
      await revocations.endSession(sessionId);
      await browserSessions.endById(sessionId);
    },
    endAllSessions: async (userId) => {
      await revocations.endAllSessions(userId);
      await browserSessions.endAllForUser(userId);
    },
  };
  const passkeys = createPasskeysService({ db, clock, repo: passkeysRepo, rp: relyingParty, mfa, mfaRepo, usersRepo, policy: () => policy.current().mfa });
  const emailTokens = createEmailTokensService({ db, emailTokensRepo: deps.emailTokensRepo, blindIndex, clock });
  const lockout = createLockoutService({ db, clock, policy: () => policy.current().lockout });
  const accounts = () => policy.current().accounts;
  const recipientBudget = createRecipientBudget({ store, blindIndex, perHour: () => accounts().mailPerRecipientPerHour });
  const shared = { db, clock, usersRepo, membershipsRepo };
  const inactiveAccountsRepo = createInactiveAccountsRepo();

  const services = {
    orgs: createOrgsService({ db, orgsRepo, membershipsRepo, clock }),
    accessTokens,
    access,
    sessions,
    refreshTokens,
    mail,
    emailTokens,
    browserSessions,
    sessionAdmin: createSessionAdminService({ db, usersRepo, membershipsRepo, refreshTokens, sessions }),
    browserLogin: createBrowserLogin({ db, accessTokens, refreshTokens, sessions, browserSessions }),
    auth: createAuthService({
      ...shared,
      blindIndex,
      passwordHasher,
      passwordPolicy,
      lockout,
      refreshTokens,
      accessTokens,
      access,
      sessions,
      audit: deps.audit,
      mfa,
    }),
    mfa,
    passkeys,
    apiKeys: createApiKeysService({ apiKeysRepo, blindIndex, clock }),
    users: createUsersService({ ...shared, profileCache }),
    usersAdmin: createUsersAdminService({ ...shared, refreshTokens, sessions, access, activity: inactiveAccountsRepo }),
    members: createMembersService({ ...shared, orgsRepo }),
    passwordReset: createPasswordResetService({
      ...shared,
      blindIndex,
      passwordHasher,
      passwordPolicy,
      emailTokens,
      mail,
      lockout,
      refreshTokens,
      sessions,
      access,
      audit: deps.audit,
      recipientBudget,
      policy: accounts,
    }),
    invitations: createInvitationsService({ ...shared, accounts, emailTokens, mail, passwordPolicy, passwordHasher, orgsRepo, audit: deps.audit }),
    registration: createRegistrationService({ db, clock, accounts, emailTokens, mail, passwordPolicy, passwordHasher, usersRepo, recipientBudget, blindIndex, audit: deps.audit }),
    unlock: createUnlockService({ ...shared, blindIndex, lockout, access, audit: deps.audit }),
    bootstrap: createBootstrapService({ ...shared, orgsRepo, passwordHasher, passwordPolicy, logger: deps.logger }),
  };

  // After the services: a passwordless sign-in completes through the auth service like every other.
  const passkeyLogin = createPasskeyLogin({
    db,
    clock,
    repo: passkeysRepo,
    ceremonies,
    mfa,
    auth: services.auth,
    usersRepo,
    lockout,
    access,
    blindIndex,
    audit: deps.audit,
  });

  // Issue 9 §5: the daily job disables unused accounts the way an administrator does.
  const inactiveAccounts = createInactiveAccountsService({
    db,
    clock,
    inactiveAccountDays: () => policy.current().retention.inactiveAccountDays,
    repo: inactiveAccountsRepo,
    usersRepo,
    refreshTokens,
    settle: (userId, options) => services.usersAdmin.settle(userId, options),
    audit: deps.audit,
    logger: deps.logger,
  });

  return {
    passwordHasher,
    services: { ...services, passkeyLogin, inactiveAccounts },
    repos: { users: usersRepo, orgs: orgsRepo, memberships: membershipsRepo, apiKeys: apiKeysRepo, mail: mailRepo },
    /**
     * Bearer JWT, X-API-Key and the session cookie, in that order (the metrics token comes first, test
     * fakes last): a request with both a bearer token and a cookie is the bearer's, without CSRF checks.
     */
    authenticators: [
      createBearerAuthenticator({ accessTokens, access, sessions }),
      createApiKeyAuthenticator({ db, apiKeysRepo, blindIndex, access, clock, audit: deps.audit }),
      createCookieAuthenticator({ browserSessions, access, sessions, csrf: createCsrfGuard({ publicUrl: config.publicUrl }) }),
    ],
  };
}
