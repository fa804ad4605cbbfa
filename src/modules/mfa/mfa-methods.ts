import type { Tx } from '../../platform/db/transaction.js';
import type { Db } from '../../platform/db/database.js';
import type { BlindIndex } from '../../platform/crypto/index.js';
import type { MfaRepo } from './mfa.repo.js';
import { backupCodeCandidates } from './backup-codes.js';
import { matchTotp } from './totp.js';

/** What a method's check gets: the user, the login challenge it answers, what was typed, and the server's time. */
export interface MfaAttempt {
  userId: string;
  challengeId: string;
  code: string;
  now: Date;
}

/**
 * One second-factor method of the login flow. Adding a method (a passkey, later) is one entry in the
 * registry built by `createMfaMethods`: the login answers the methods the user can use, and
 * `POST /auth/mfa/verify` dispatches on `method` to `verify`.
 */
export interface MfaMethod {
  /** RFC 8176 values this method adds to `pwd` (then `mfa` is added for the combination). */
  amr: readonly string[];
  /** Whether the user can sign in with it now. */
  available(executor: Db | Tx, userId: string): Promise<boolean>;
  /** Checks and uses the answer atomically in `tx` (a used code is used for good when `tx` commits). */
  verify(tx: Tx, attempt: MfaAttempt): Promise<boolean>;
  /** A factor on its own (backup codes are a fallback of one, not one). */
  isFactor: boolean;
  /** Removes every enrollment of the user (the admin reset), for methods stored outside the MFA tables. */
  removeAll?(tx: Tx, userId: string): Promise<boolean>;
}

export type MfaMethods = Readonly<Record<string, MfaMethod>>;

export function createMfaMethods(deps: { mfaRepo: MfaRepo; blindIndex: Pick<BlindIndex, 'computeAll'> }): MfaMethods {
  const { mfaRepo } = deps;
  return {
    totp: {
      amr: ['otp'],
      isFactor: true,
      available: (executor, userId) => mfaRepo.hasConfirmedTotp(executor, userId),
      async verify(tx, { userId, code, now }) {
        const totp = await mfaRepo.findTotp(tx, userId);
        if (!totp?.confirmedAt) return false;
        const step = matchTotp(totp.secret, code, now.getTime());
        // The step update is the use: a replayed code (same or older step) updates nothing.
        return step !== undefined && mfaRepo.useTotpStep(tx, userId, step, null);
      },
    },
    'backup-code': {
      amr: ['otp'],
      isFactor: false,
      // Offered only beside a factor (mfa.service.ts methodsFor): codes left over after a reset sign no one in.
      available: async (executor, userId) => (await mfaRepo.countUnusedBackupCodes(executor, userId)) > 0,
      verify: (tx, { userId, code, now }) => mfaRepo.useBackupCode(tx, userId, backupCodeCandidates(deps.blindIndex, userId, code), now),
    },
  };
}
