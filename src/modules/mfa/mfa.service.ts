import { createHash, randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import type { Policy } from '../../config/policy.schema.js';
import type { MfaRequirement } from '../../db/schema.js';
import type { Clock } from '../../platform/clock.js';
import type { BlindIndex } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError, errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Principal } from '../../http/principal.js';
import type { UsersRepo } from '../users/users.repo.js';
import type { MailService } from '../mail/mail.service.js';
import type { MfaRepo } from './mfa.repo.js';
import type { MfaMethods } from './mfa-methods.js';
import { mfaRequirementOf, type MfaRequirementState } from './mfa-requirement.js';
import { hashBackupCode, newBackupCodes, normaliseBackupCode } from './backup-codes.js';
import { base32Of, matchTotp, newTotpSecret, totpUri } from './totp.js';

/** An mfaToken lives 5 minutes (issue 8 §4) and survives at most 5 wrong answers. */
export const MFA_CHALLENGE_TTL_SECONDS = 300;
export const MFA_CHALLENGE_MAX_FAILURES = 5;
const TOKEN_PREFIX = 'vutf_mfa_';
const TOKEN_PATTERN = /^vutf_mfa_[A-Za-z0-9_-]{43}$/;
const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** What enrollment shows once: the URI, its QR code and the seed as text for people who cannot scan. */
export interface TotpEnrollment {
  secret: Buffer;
  base32: string;
  otpauthUri: string;
  qrCode: string;
}

/** A live login challenge, locked in the caller's transaction. */
export interface OpenChallenge {
  id: string;
  userId: string;
  passwordAt: Date;
}

export function createMfaService(deps: {
  db: Db;
  clock: Clock;
  mfaRepo: MfaRepo;
  methods: MfaMethods;
  blindIndex: Pick<BlindIndex, 'compute'>;
  usersRepo: Pick<UsersRepo, 'findById'>;
  mail: Pick<MailService, 'send'>;
  policy: () => Policy['mfa'];
}) {
  const { mfaRepo, methods } = deps;
  const selfOf = (principal: Principal) => {
    if (principal.type !== 'user' || !principal.userId) throw errors.forbidden('MFA belongs to a signed-in user, not to another credential.');
    return principal.userId;
  };

  async function hasFactor(executor: Db | Tx, userId: string): Promise<boolean> {
    for (const method of Object.values(methods)) if (method.isFactor && (await method.available(executor, userId))) return true;
    return false;
  }

  async function requirementOf(executor: Db | Tx, userId: string, enrolled: boolean): Promise<MfaRequirementState> {
    const orgs = await mfaRepo.orgFacts(executor, userId);
    const facts = orgs.map((org) => ({ role: org.role, memberSinceMs: org.memberSince.getTime(), requirement: org.requirement, policySinceMs: org.policySince.getTime() }));
    return mfaRequirementOf(facts, enrolled, deps.policy(), deps.clock.nowMs());
  }

  async function issueBackupCodes(tx: Tx, userId: string, now: Date): Promise<string[]> {
    const codes = newBackupCodes();
    const rows = codes.map((code) => ({ id: newId(), codeHash: hashBackupCode(deps.blindIndex, userId, normaliseBackupCode(code)!) }));
    await mfaRepo.replaceBackupCodes(tx, userId, rows, now);
    return codes;
  }

  /** Removes every factor and backup code of a user; true when there was something to remove. */
  async function removeAll(tx: Tx, userId: string): Promise<boolean> {
    const totp = await mfaRepo.deleteTotp(tx, userId);
    const codes = await mfaRepo.deleteBackupCodes(tx, userId);
    let others = false;
    for (const method of Object.values(methods)) if (method.removeAll && (await method.removeAll(tx, userId))) others = true;
    return totp || codes > 0 || others;
  }

  return {
    /** The methods a user can answer a login challenge with; empty: no MFA, the password suffices. */
    async methodsFor(executor: Db | Tx, userId: string): Promise<string[]> {
      const available: string[] = [];
      for (const [name, method] of Object.entries(methods)) if (await method.available(executor, userId)) available.push(name);
      return available.some((name) => methods[name]!.isFactor) ? available : [];
    },

    hasFactor,

    /** The MFA facts authorisation caches per user (AccessService grants). */
    async grantsFor(executor: Db | Tx, userId: string) {
      const [enrolled, orgs] = await Promise.all([hasFactor(executor, userId), mfaRepo.orgFacts(executor, userId)]);
      return {
        enrolled,
        orgs: orgs.map((org) => ({ role: org.role, memberSinceMs: org.memberSince.getTime(), requirement: org.requirement, policySinceMs: org.policySince.getTime() })),
      };
    },

    async status(principal: Principal) {
      const userId = selfOf(principal);
      const [totp, backupCodesRemaining, enrolled] = await Promise.all([
        mfaRepo.findTotp(deps.db, userId),
        mfaRepo.countUnusedBackupCodes(deps.db, userId),
        hasFactor(deps.db, userId),
      ]);
      const requirement = await requirementOf(deps.db, userId, enrolled);
      const names = Object.keys(methods);
      const enrolledMethods: string[] = [];
      for (const name of names) if (methods[name]!.isFactor && (await methods[name]!.available(deps.db, userId))) enrolledMethods.push(name);
      return {
        enrolled,
        methods: enrolledMethods,
        totp: { enabled: Boolean(totp?.confirmedAt), pending: Boolean(totp && !totp.confirmedAt) },
        backupCodesRemaining: enrolled ? backupCodesRemaining : 0,
        required: requirement.required,
        graceEndsAt: requirement.graceEndsAt?.toISOString() ?? null,
        enrollmentRequired: requirement.enrollmentRequired,
        stepUpMaxAgeMinutes: deps.policy().stepUpMaxAgeMinutes,
      };
    },

    /** Outside any transaction: a fresh seed, its URI and QR image (CPU work, no database). */
    async prepareTotp(principal: Principal): Promise<TotpEnrollment> {
      const user = await deps.usersRepo.findById(deps.db, selfOf(principal));
      if (!user) throw errors.unauthorized();
      const secret = newTotpSecret();
      const otpauthUri = totpUri(secret, user.email);
      return { secret, base32: base32Of(secret), otpauthUri, qrCode: await QRCode.toDataURL(otpauthUri, { errorCorrectionLevel: 'M', margin: 2 }) };
    },

    /** Stores the seed unconfirmed (replacing an earlier unconfirmed one); a confirmed TOTP must be disabled first. */
    async startTotp(tx: Tx, principal: Principal, enrollment: TotpEnrollment) {
      const userId = selfOf(principal);
      const stored = await mfaRepo.upsertPendingTotp(tx, { id: newId(), userId, secret: enrollment.secret, now: deps.clock.now() });
      if (!stored) throw errors.conflict('totp_already_enabled', 'An authenticator app is already enabled; disable it before enrolling another.');
      return { secret: enrollment.base32, otpauthUri: enrollment.otpauthUri, qrCode: enrollment.qrCode, digits: 6, periodSeconds: 30, algorithm: 'SHA1' as const };
    },

    /** A first valid code turns the TOTP on (that code is used); the first factor comes with 10 backup codes. */
    async confirmTotp(tx: Tx, principal: Principal, code: string): Promise<{ backupCodes: string[] }> {
      const userId = selfOf(principal);
      const now = deps.clock.now();
      const totp = await mfaRepo.findTotp(tx, userId);
      if (!totp || totp.confirmedAt) throw errors.conflict('no_pending_enrollment', 'There is no authenticator enrollment to confirm; start one first.');
      const step = matchTotp(totp.secret, code, now.getTime());
      if (step === undefined || !(await mfaRepo.useTotpStep(tx, userId, step, now))) {
        throw new AppError(422, 'invalid_mfa_code', { detail: 'The code is not valid for this enrollment.', errors: [{ in: 'body', pointer: '/code', detail: 'Not a current code.' }] });
      }
      const hadCodes = (await mfaRepo.countUnusedBackupCodes(tx, userId)) > 0;
      return { backupCodes: hadCodes ? [] : await issueBackupCodes(tx, userId, now) };
    },

    /** Nobody removes their last factor while an organisation requires MFA of them. */
    async disableTotp(tx: Tx, principal: Principal): Promise<void> {
      const userId = selfOf(principal);
      const totp = await mfaRepo.findTotp(tx, userId);
      if (!totp) throw errors.notFound('authenticator enrollment');
      if (totp.confirmedAt && (await requirementOf(tx, userId, true)).required) {
        const others = Object.entries(methods).filter(([name, method]) => name !== 'totp' && method.isFactor);
        let another = false;
        for (const [, method] of others) if (await method.available(tx, userId)) another = true;
        if (!another) throw errors.conflict('mfa_required', 'Your organisation requires MFA: enroll another factor before removing this one.');
      }
      await mfaRepo.deleteTotp(tx, userId);
      if (!(await hasFactor(tx, userId))) await mfaRepo.deleteBackupCodes(tx, userId);
    },

    async regenerateBackupCodes(tx: Tx, principal: Principal): Promise<{ backupCodes: string[] }> {
      const userId = selfOf(principal);
      if (!(await hasFactor(tx, userId))) throw errors.conflict('mfa_not_enrolled', 'Enroll a factor first: backup codes stand in for one.');
      return { backupCodes: await issueBackupCodes(tx, userId, deps.clock.now()) };
    },

    /** Starts the second step of a login; the token is returned once, only its digest is stored. */
    async createChallenge(tx: Tx, userId: string, passwordAt: Date): Promise<string> {
      const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
      const now = deps.clock.now();
      // The table stays bounded per user without waiting for the housekeeping purge.
      await mfaRepo.purgeFinishedChallenges(tx, userId, now);
      await mfaRepo.insertChallenge(tx, {
        id: newId(),
        userId,
        tokenHash: hashToken(token),
        passwordAt,
        createdAt: now,
        expiresAt: new Date(now.getTime() + MFA_CHALLENGE_TTL_SECONDS * 1000),
      });
      return token;
    },

    /** The user a live challenge belongs to, read before the transaction (grants come from the cache). */
    async peekChallenge(token: string): Promise<string | undefined> {
      if (!TOKEN_PATTERN.test(token)) return undefined;
      const row = await mfaRepo.findLiveChallenge(deps.db, hashToken(token), deps.clock.now());
      return row?.userId;
    },

    /** Locks a live challenge for this transaction; undefined for an unknown, expired, used or dead one. */
    async openChallenge(tx: Tx, token: string): Promise<OpenChallenge | undefined> {
      if (!TOKEN_PATTERN.test(token)) return undefined;
      return mfaRepo.lockLiveChallenge(tx, hashToken(token), deps.clock.now());
    },

    /**
     * Checks one answer with the named method. Success consumes the challenge (once: a concurrent
     * second success loses); failure counts against it and kills it at the limit.
     */
    async answerChallenge(tx: Tx, challenge: OpenChallenge, method: string, code: string): Promise<{ verified: true; amr: string[] } | { verified: false; failures: number }> {
      const now = deps.clock.now();
      const chosen = Object.hasOwn(methods, method) ? methods[method] : undefined;
      const usable = chosen && (chosen.isFactor || (await hasFactor(tx, challenge.userId)));
      const verified = Boolean(usable) && (await chosen!.verify(tx, { userId: challenge.userId, challengeId: challenge.id, code, now }));
      if (verified && (await mfaRepo.consumeChallenge(tx, challenge.id, now))) return { verified: true, amr: ['pwd', ...chosen!.amr, 'mfa'] };
      return { verified: false, failures: await mfaRepo.failChallenge(tx, challenge.id, MFA_CHALLENGE_MAX_FAILURES, now) };
    },

    /** Counts a refused answer (e.g. a locked account) without checking it. */
    async failChallenge(tx: Tx, challenge: OpenChallenge): Promise<number> {
      return mfaRepo.failChallenge(tx, challenge.id, MFA_CHALLENGE_MAX_FAILURES, deps.clock.now());
    },

    /**
     * Admin reset (issue 8 §5): a super-admin for anyone; an owner or admin for members of the active
     * organisation (admins not for owners). The user is told through the outbox. Returns whether
     * anything was removed.
     */
    async adminReset(tx: Tx, principal: Principal, userId: string): Promise<{ reset: boolean }> {
      const actorId = selfOf(principal);
      if (userId === actorId) throw errors.conflict('use_self_service', 'Manage your own factors under /auth/mfa.');
      if (!principal.permissions.has('platform:users:manage')) {
        const orgId = principal.orgId;
        const [actorRole, targetRole] = orgId ? await Promise.all([mfaRepo.roleIn(tx, orgId, actorId), mfaRepo.roleIn(tx, orgId, userId)]) : [undefined, undefined];
        if (!targetRole) throw errors.notFound('user');
        if (actorRole !== 'owner' && (actorRole !== 'admin' || targetRole === 'owner')) throw errors.forbidden('Only an owner may reset the MFA of an owner.');
      }
      const user = await deps.usersRepo.findById(tx, userId);
      if (!user) throw errors.notFound('user');
      const reset = await removeAll(tx, userId);
      if (reset) await deps.mail.send(tx, user.email, 'mfa-reset', {});
      return { reset };
    },

    /** Sets the organisation's policy; the grace restarts from now. Returns the members whose grants changed. */
    async setOrgPolicy(tx: Tx, principal: Principal, orgId: string, requirement: MfaRequirement): Promise<{ requirement: MfaRequirement; since: string; memberIds: string[] }> {
      const actorId = selfOf(principal);
      if (principal.orgId !== orgId) throw errors.notFound('organisation');
      const now = deps.clock.now();
      if (!(await mfaRepo.setOrgRequirement(tx, orgId, requirement, actorId, now))) throw errors.notFound('organisation');
      return { requirement, since: now.toISOString(), memberIds: await mfaRepo.memberIds(tx, orgId) };
    },
  };
}

export type MfaService = ReturnType<typeof createMfaService>;
