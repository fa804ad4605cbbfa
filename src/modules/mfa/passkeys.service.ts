import { generateRegistrationOptions, verifyRegistrationResponse, type RegistrationResponseJSON } from '@simplewebauthn/server';
import { Value } from 'typebox/value';
import type { Policy } from '../../config/policy.schema.js';
import type { Principal } from '../../http/principal.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError, errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { normaliseName } from '../../http/schemas.js';
import type { UsersRepo } from '../users/users.repo.js';
import type { MfaRepo } from './mfa.repo.js';
import type { MfaMethod } from './mfa-methods.js';
import type { MfaService } from './mfa.service.js';
import { mfaRequirementOf } from './mfa-requirement.js';
import type { PasskeyRow, PasskeysRepo } from './passkeys.repo.js';
import { AuthenticationCredentialSchema } from './passkeys.schemas.js';
import { CEREMONY_TIMEOUT_MS, CEREMONY_TTL_SECONDS, userHandleOf, type Ceremonies, type RelyingParty } from './passkeys-ceremony.js';

/** At most 10 passkeys per user: enough for every device and a spare key, bounded for the options it lists. */
export const MAX_PASSKEYS = 10;

const view = (row: PasskeyRow) => ({
  id: row.id,
  name: row.name,
  aaguid: row.aaguid,
  transports: row.transports,
  backedUp: row.backedUp,
  createdAt: row.createdAt.toISOString(),
  lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
});

const invalidPasskey = (detail: string) => new AppError(422, 'invalid_passkey', { detail, errors: [{ in: 'body', pointer: '/credential', detail }] });

/**
 * The `passkey` method of POST /auth/mfa/verify: `code` is the JSON of the assertion, answering the
 * options of POST /auth/mfa/passkey/options for the same mfaToken. Built apart from the service: the
 * MFA service's method registry needs it before the passkeys service (which needs the MFA service) exists.
 */
export function createPasskeyMethod(deps: { repo: PasskeysRepo; ceremonies: Ceremonies }): MfaMethod {
  const { repo } = deps;
  return {
    amr: ['hwk', 'user'],
    isFactor: true,
    available: async (executor, userId) => (await repo.countForUser(executor, userId)) > 0,
    async verify(tx, { userId, challengeId, code, now }) {
      let response: unknown;
      try {
        response = JSON.parse(code);
      } catch {
        return false;
      }
      if (!Value.Check(AuthenticationCredentialSchema, response)) return false;
      const outcome = await deps.ceremonies.checkAssertion(tx, response, { purpose: 'second-factor', mfaChallengeId: challengeId }, userId, now);
      return outcome.ok;
    },
    removeAll: async (tx, userId) => (await repo.removeAllForUser(tx, userId)) > 0,
  };
}

/**
 * Passkeys (issue 8 §3): registration (options, then the browser's answer), list, rename, remove,
 * and the `passkey` method of the login's second step. User verification is required everywhere, so
 * a passkey is a multi-factor authenticator on its own (NIST SP 800-63B-4 §3.1.7).
 */
export function createPasskeysService(deps: {
  db: Db;
  clock: Clock;
  repo: PasskeysRepo;
  rp: RelyingParty;
  mfa: Pick<MfaService, 'hasFactor' | 'grantsFor' | 'regenerateBackupCodes'>;
  mfaRepo: Pick<MfaRepo, 'countUnusedBackupCodes' | 'deleteBackupCodes'>;
  usersRepo: Pick<UsersRepo, 'findById'>;
  policy: () => Policy['mfa'];
}) {
  const { repo, rp } = deps;
  const selfOf = (principal: Principal) => {
    if (principal.type !== 'user' || !principal.userId) throw errors.forbidden('Passkeys belong to a signed-in user, not to another credential.');
    return principal.userId;
  };

  return {
    async list(principal: Principal) {
      return { items: (await repo.listForUser(deps.db, selfOf(principal))).map(view) };
    },

    /** Options for navigator.credentials.create(): a discoverable credential, user verification required. */
    async registrationOptions(tx: Tx, principal: Principal) {
      const userId = selfOf(principal);
      const [user, existing] = await Promise.all([deps.usersRepo.findById(tx, userId), repo.listForUser(tx, userId)]);
      if (!user) throw errors.unauthorized();
      if (existing.length >= MAX_PASSKEYS) throw errors.conflict('passkey_limit', `At most ${MAX_PASSKEYS} passkeys per user: remove one first.`);
      const now = deps.clock.now();
      const options = await generateRegistrationOptions({
        rpName: rp.name,
        rpID: rp.id,
        userID: userHandleOf(userId),
        userName: user.email,
        userDisplayName: user.displayName ?? user.email,
        timeout: CEREMONY_TIMEOUT_MS,
        attestationType: 'none',
        // The same authenticator twice would be one factor counted twice.
        excludeCredentials: existing.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
      const expiresAt = new Date(now.getTime() + CEREMONY_TTL_SECONDS * 1000);
      await repo.insertChallenge(tx, { id: newId(), challenge: options.challenge, binding: { purpose: 'registration', userId }, now, expiresAt });
      return options;
    },

    /** Checks the browser's answer against this user's live challenge (used either way) and stores the credential. */
    async register(tx: Tx, principal: Principal, input: { name?: string; credential: RegistrationResponseJSON }) {
      const userId = selfOf(principal);
      const now = deps.clock.now();
      const binding = { purpose: 'registration', userId } as const;
      let verified;
      try {
        verified = await verifyRegistrationResponse({
          response: input.credential,
          expectedChallenge: (challenge) => repo.consumeChallenge(tx, challenge, binding, now),
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          requireUserVerification: true,
        });
      } catch {
        throw invalidPasskey('The passkey could not be verified: a used or expired challenge, another origin, or no user verification.');
      }
      if (!verified.verified || !verified.registrationInfo.userVerified) throw invalidPasskey('The passkey did not verify the user.');
      if ((await repo.countForUser(tx, userId)) >= MAX_PASSKEYS) throw errors.conflict('passkey_limit', `At most ${MAX_PASSKEYS} passkeys per user: remove one first.`);
      const { credential, aaguid, credentialBackedUp } = verified.registrationInfo;
      const firstFactor = !(await deps.mfa.hasFactor(tx, userId));
      const row: PasskeyRow = {
        id: newId(),
        userId,
        credentialId: credential.id,
        publicKey: Buffer.from(credential.publicKey),
        counter: credential.counter,
        transports: (credential.transports ?? []).slice(0, 8),
        aaguid,
        name: input.name ? normaliseName(input.name) : 'Passkey',
        backedUp: credentialBackedUp,
        createdAt: now,
        lastUsedAt: null,
      };
      if (!(await repo.insert(tx, row))) throw errors.conflict('passkey_already_registered', 'This passkey is already registered.');
      // Like a first authenticator app: the first factor comes with backup codes (unless some still stand).
      const issueCodes = firstFactor && (await deps.mfaRepo.countUnusedBackupCodes(tx, userId)) === 0;
      const backupCodes = issueCodes ? (await deps.mfa.regenerateBackupCodes(tx, principal)).backupCodes : [];
      return { id: row.id, passkey: view(row), backupCodes };
    },

    async rename(tx: Tx, principal: Principal, id: string, name: string) {
      const row = await repo.rename(tx, selfOf(principal), id, normaliseName(name));
      if (!row) throw errors.notFound('passkey');
      return view(row);
    },

    /** Another user's passkey is "not found"; the last factor stays while an organisation requires MFA. */
    async remove(tx: Tx, principal: Principal, id: string): Promise<void> {
      const userId = selfOf(principal);
      if (!(await repo.remove(tx, userId, id))) throw errors.notFound('passkey');
      if (await deps.mfa.hasFactor(tx, userId)) return;
      const { orgs } = await deps.mfa.grantsFor(tx, userId);
      if (mfaRequirementOf(orgs, true, deps.policy(), deps.clock.nowMs()).required) {
        throw errors.conflict('mfa_required', 'Your organisation requires MFA: enroll another factor before removing this one.');
      }
      // Backup codes stand in for a factor; without one they go too (as when the authenticator app goes).
      await deps.mfaRepo.deleteBackupCodes(tx, userId);
    },
  };
}

export type PasskeysService = ReturnType<typeof createPasskeysService>;
