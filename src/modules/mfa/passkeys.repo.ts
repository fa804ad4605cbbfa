import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';

type Executor = Db | Tx;
type Purpose = 'registration' | 'second-factor' | 'passwordless';

/** What a challenge is bound to: the user (registration), the login's MFA challenge, or nobody. */
export type ChallengeBinding = { purpose: 'registration'; userId: string } | { purpose: 'second-factor'; mfaChallengeId: string } | { purpose: 'passwordless' };

export interface PasskeyRow {
  id: string;
  userId: string;
  credentialId: string;
  publicKey: Buffer;
  counter: number;
  transports: string[];
  aaguid: string;
  name: string;
  backedUp: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
}

const COLUMNS = ['id', 'userId', 'credentialId', 'publicKey', 'counter', 'transports', 'aaguid', 'name', 'backedUp', 'createdAt', 'lastUsedAt'] as const;

const toRow = (row: { counter: string | number; transports: string } & Omit<PasskeyRow, 'counter' | 'transports'>): PasskeyRow => ({
  ...row,
  publicKey: Buffer.from(row.publicKey),
  counter: Number(row.counter),
  transports: row.transports ? row.transports.split(',') : [],
});

/** Passkeys and WebAuthn challenges: SQL only (rules in passkeys.service.ts). Nothing here is secret. */
export function createPasskeysRepo() {
  return {
    async listForUser(executor: Executor, userId: string): Promise<PasskeyRow[]> {
      const rows = await executor.selectFrom('passkeys').select(COLUMNS).where('userId', '=', userId).orderBy('createdAt').orderBy('id').execute();
      return rows.map(toRow);
    },

    async countForUser(executor: Executor, userId: string): Promise<number> {
      const row = await executor.selectFrom('passkeys').select((eb) => eb.fn.countAll<string>().as('n')).where('userId', '=', userId).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** A credential by its id, whoever owns it (passwordless: the assertion names the account). */
    async findByCredentialId(executor: Executor, credentialId: string): Promise<PasskeyRow | undefined> {
      const row = await executor.selectFrom('passkeys').select(COLUMNS).where('credentialId', '=', credentialId).executeTakeFirst();
      return row ? toRow(row) : undefined;
    },

    /** Inserts a credential; false when that credential id is already registered (to anyone). */
    async insert(tx: Tx, row: PasskeyRow): Promise<boolean> {
      const result = await tx
        .insertInto('passkeys')
        .values({ ...row, transports: row.transports.join(',') })
        .onConflict((oc) => oc.column('credentialId').doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
    },

    async rename(tx: Tx, userId: string, id: string, name: string): Promise<PasskeyRow | undefined> {
      const row = await tx.updateTable('passkeys').set({ name }).where('id', '=', id).where('userId', '=', userId).returning(COLUMNS).executeTakeFirst();
      return row ? toRow(row) : undefined;
    },

    async remove(tx: Tx, userId: string, id: string): Promise<boolean> {
      const result = await tx.deleteFrom('passkeys').where('id', '=', id).where('userId', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async removeAllForUser(tx: Tx, userId: string): Promise<number> {
      const result = await tx.deleteFrom('passkeys').where('userId', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Records a use: the new signature counter and when. */
    async recordUse(tx: Tx, id: string, counter: number, now: Date): Promise<void> {
      await tx.updateTable('passkeys').set({ counter, lastUsedAt: now }).where('id', '=', id).execute();
    },

    /**
     * Stores a challenge. The binding's earlier challenges go first (one live ceremony per user or
     * per login), and expired ones of anyone, so the table stays bounded without a housekeeping job.
     */
    async insertChallenge(tx: Tx, row: { id: string; challenge: string; binding: ChallengeBinding; now: Date; expiresAt: Date }): Promise<void> {
      const { binding } = row;
      await tx.deleteFrom('webauthnChallenges').where('expiresAt', '<=', row.now).execute();
      if (binding.purpose === 'registration') await tx.deleteFrom('webauthnChallenges').where('purpose', '=', 'registration').where('userId', '=', binding.userId).execute();
      if (binding.purpose === 'second-factor') await tx.deleteFrom('webauthnChallenges').where('mfaChallengeId', '=', binding.mfaChallengeId).execute();
      await tx
        .insertInto('webauthnChallenges')
        .values({
          id: row.id,
          challenge: row.challenge,
          purpose: binding.purpose,
          userId: binding.purpose === 'registration' ? binding.userId : null,
          mfaChallengeId: binding.purpose === 'second-factor' ? binding.mfaChallengeId : null,
          createdAt: row.now,
          expiresAt: row.expiresAt,
        })
        .execute();
    },

    /** Uses a live challenge of this binding: true for exactly one of any number of concurrent uses. */
    async consumeChallenge(tx: Tx, challenge: string, binding: ChallengeBinding, now: Date): Promise<boolean> {
      let query = tx
        .deleteFrom('webauthnChallenges')
        .where('challenge', '=', challenge)
        .where('purpose', '=', binding.purpose satisfies Purpose)
        .where('expiresAt', '>', now);
      if (binding.purpose === 'registration') query = query.where('userId', '=', binding.userId);
      if (binding.purpose === 'second-factor') query = query.where('mfaChallengeId', '=', binding.mfaChallengeId);
      const row = await query.returning('id').executeTakeFirst();
      return row !== undefined;
    },
  };
}

export type PasskeysRepo = ReturnType<typeof createPasskeysRepo>;
