import { sql } from 'kysely';
import type { MfaRequirement, OrgRole } from '../../db/schema.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';

type Executor = Db | Tx;

/** A user's MFA membership facts: the role, when the membership began, the organisation's policy and since when. */
export interface MfaOrgFacts {
  orgId: string;
  role: OrgRole;
  memberSince: Date;
  requirement: MfaRequirement | null;
  policySince: Date;
}

/** MFA rows: SQL only, no rules (those live in mfa.service.ts and mfa-requirement.ts). */
export function createMfaRepo(deps: { cipher: FieldCipher }) {
  // The one declaration of what is encrypted here: the TOTP seed (bound to table, column and row id).
  const sealed = encryptedColumns(deps.cipher, 'mfa_totp', { secret: 'bytes' });

  return {
    /** The TOTP row of a user (confirmed or pending), seed opened. */
    async findTotp(executor: Executor, userId: string) {
      const row = await executor.selectFrom('mfaTotp').select(['id', 'userId', 'secret', 'confirmedAt']).where('userId', '=', userId).executeTakeFirst();
      return row ? sealed.open(row) : undefined;
    },

    /** Starts (or restarts) an enrollment: an unconfirmed row replaces any earlier unconfirmed one. */
    async upsertPendingTotp(tx: Tx, row: { id: string; userId: string; secret: Buffer; now: Date }): Promise<boolean> {
      const { secret } = sealed.seal(row.id, { secret: row.secret });
      const result = await tx
        .insertInto('mfaTotp')
        .values({ id: row.id, userId: row.userId, secret, confirmedAt: null, lastUsedStep: null, createdAt: row.now, updatedAt: row.now })
        .onConflict((oc) =>
          oc.column('userId').doUpdateSet({ id: row.id, secret, lastUsedStep: null, createdAt: row.now, updatedAt: row.now }).where('mfaTotp.confirmedAt', 'is', null),
        )
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
    },

    /**
     * Records the use of time step `step`: succeeds only if no equal or later step was used before
     * (the atomic "each code once", also against a concurrent request with the same code).
     */
    async useTotpStep(tx: Tx, userId: string, step: number, confirmAt: Date | null): Promise<boolean> {
      let query = tx
        .updateTable('mfaTotp')
        .set({ lastUsedStep: step, updatedAt: confirmAt ?? sql<Date>`updated_at` })
        .where('userId', '=', userId)
        .where((eb) => eb.or([eb('lastUsedStep', 'is', null), eb('lastUsedStep', '<', sql<string>`${step}`)]));
      query = confirmAt ? query.set({ confirmedAt: confirmAt }).where('confirmedAt', 'is', null) : query.where('confirmedAt', 'is not', null);
      const result = await query.executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async deleteTotp(tx: Tx, userId: string): Promise<boolean> {
      const result = await tx.deleteFrom('mfaTotp').where('userId', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async replaceBackupCodes(tx: Tx, userId: string, rows: Array<{ id: string; codeHash: Buffer }>, now: Date): Promise<void> {
      await tx.deleteFrom('mfaBackupCodes').where('userId', '=', userId).execute();
      if (rows.length > 0) await tx.insertInto('mfaBackupCodes').values(rows.map((row) => ({ ...row, userId, usedAt: null, createdAt: now }))).execute();
    },

    async deleteBackupCodes(tx: Tx, userId: string): Promise<number> {
      const result = await tx.deleteFrom('mfaBackupCodes').where('userId', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Marks one unused code of the user used: true for exactly one of any number of concurrent uses. */
    async useBackupCode(tx: Tx, userId: string, candidates: readonly Buffer[], now: Date): Promise<boolean> {
      if (candidates.length === 0) return false;
      const row = await tx
        .updateTable('mfaBackupCodes')
        .set({ usedAt: now })
        .where('id', '=', (eb) =>
          eb.selectFrom('mfaBackupCodes').select('id').where('userId', '=', userId).where('codeHash', 'in', candidates).where('usedAt', 'is', null).limit(1),
        )
        .where('usedAt', 'is', null)
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    async countUnusedBackupCodes(executor: Executor, userId: string): Promise<number> {
      const row = await executor
        .selectFrom('mfaBackupCodes')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('userId', '=', userId)
        .where('usedAt', 'is', null)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async insertChallenge(tx: Tx, row: { id: string; userId: string; tokenHash: Buffer; passwordAt: Date; createdAt: Date; expiresAt: Date }): Promise<void> {
      await tx.insertInto('mfaChallenges').values({ ...row, failures: 0, consumedAt: null }).execute();
    },

    /** Drops a user's finished challenges (used, dead or expired): what a new one replaces. */
    async purgeFinishedChallenges(tx: Tx, userId: string, now: Date): Promise<void> {
      await tx
        .deleteFrom('mfaChallenges')
        .where('userId', '=', userId)
        .where((eb) => eb.or([eb('consumedAt', 'is not', null), eb('expiresAt', '<=', now)]))
        .execute();
    },

    /** A live challenge by token digest, without a lock (to learn whose it is before a transaction). */
    async findLiveChallenge(executor: Executor, tokenHash: Buffer, now: Date) {
      return executor
        .selectFrom('mfaChallenges')
        .select(['id', 'userId'])
        .where('tokenHash', '=', tokenHash)
        .where('consumedAt', 'is', null)
        .where('expiresAt', '>', now)
        .executeTakeFirst();
    },

    /** A live challenge by token digest, locked for this transaction (concurrent attempts queue behind it). */
    async lockLiveChallenge(tx: Tx, tokenHash: Buffer, now: Date) {
      return tx
        .selectFrom('mfaChallenges')
        .select(['id', 'userId', 'passwordAt', 'failures'])
        .where('tokenHash', '=', tokenHash)
        .where('consumedAt', 'is', null)
        .where('expiresAt', '>', now)
        .forUpdate()
        .executeTakeFirst();
    },

    /** Counts a wrong code; the challenge dies (consumed) at `maxFailures`. Returns the new count. */
    async failChallenge(tx: Tx, id: string, maxFailures: number, now: Date): Promise<number> {
      const row = await tx
        .updateTable('mfaChallenges')
        .set((eb) => ({
          failures: eb('failures', '+', 1),
          consumedAt: sql<Date | null>`case when failures + 1 >= ${maxFailures} then ${now}::timestamptz else consumed_at end`,
        }))
        .where('id', '=', id)
        .returning('failures')
        .executeTakeFirstOrThrow();
      return row.failures;
    },

    /** Consumes a challenge once: false when another request consumed it first. */
    async consumeChallenge(tx: Tx, id: string, now: Date): Promise<boolean> {
      const result = await tx.updateTable('mfaChallenges').set({ consumedAt: now }).where('id', '=', id).where('consumedAt', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Whether the user has a confirmed TOTP (the factors a later passkey table adds to). */
    async hasConfirmedTotp(executor: Executor, userId: string): Promise<boolean> {
      const row = await executor.selectFrom('mfaTotp').select('id').where('userId', '=', userId).where('confirmedAt', 'is not', null).executeTakeFirst();
      return row !== undefined;
    },

    /** The user's live memberships with each organisation's MFA policy. */
    async orgFacts(executor: Executor, userId: string): Promise<MfaOrgFacts[]> {
      const rows = await executor
        .selectFrom('memberships as m')
        .innerJoin('organisations as o', 'o.id', 'm.orgId')
        .select(['m.orgId', 'm.role', 'm.createdAt as memberSince', 'o.mfaRequirement as requirement', 'o.mfaPolicySince', 'o.createdAt as orgCreatedAt'])
        .where('m.userId', '=', userId)
        .where('m.deletedAt', 'is', null)
        .where('o.deletedAt', 'is', null)
        .orderBy('m.orgId')
        .execute();
      return rows.map((row) => ({
        orgId: row.orgId,
        role: row.role,
        memberSince: row.memberSince,
        requirement: row.requirement,
        policySince: row.mfaPolicySince ?? row.orgCreatedAt,
      }));
    },

    async setOrgRequirement(tx: Tx, orgId: string, requirement: MfaRequirement, actorId: string, now: Date): Promise<boolean> {
      const result = await tx
        .updateTable('organisations')
        .set({ mfaRequirement: requirement, mfaPolicySince: now, updatedAt: now, updatedBy: actorId, version: (eb) => eb('version', '+', 1) })
        .where('id', '=', orgId)
        .where('deletedAt', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async memberIds(executor: Executor, orgId: string): Promise<string[]> {
      const rows = await executor.selectFrom('memberships').select('userId').where('orgId', '=', orgId).where('deletedAt', 'is', null).execute();
      return rows.map((row) => row.userId);
    },

    /** The role of a user in an organisation (live membership), or undefined. */
    async roleIn(executor: Executor, orgId: string, userId: string): Promise<OrgRole | undefined> {
      const row = await executor.selectFrom('memberships').select('role').where('orgId', '=', orgId).where('userId', '=', userId).where('deletedAt', 'is', null).executeTakeFirst();
      return row?.role;
    },
  };
}

export type MfaRepo = ReturnType<typeof createMfaRepo>;
