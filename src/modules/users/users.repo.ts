import type { Selectable } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { newRowColumns } from '../../platform/db/common-columns.js';
import { encryptedColumns, normaliseEmail, type BlindIndex, type FieldCipher } from '../../platform/crypto/index.js';
import type { PlatformRole, UsersTable } from '../../db/schema.js';

/** Purpose label of the email blind index (changing it orphans every stored index). */
export const EMAIL_INDEX_PURPOSE = 'users.email';

export interface NewUser {
  email: string;
  displayName: string;
  passwordHash: string | null;
  platformRole: PlatformRole | null;
  mustChangePassword: boolean;
}

export function createUsersRepo(deps: { db: Db; cipher: FieldCipher; blindIndex: BlindIndex }) {
  // The one declaration of what is encrypted in users: email and display name (PII).
  const sealed = encryptedColumns(deps.cipher, 'users', { email: 'text', displayName: 'text' });
  const open = (row: Selectable<UsersTable>) => sealed.open(row);

  return {
    async insert(tx: Tx, id: string, user: NewUser, actorId: string | null, now: Date) {
      const row = await tx
        .insertInto('users')
        .values({
          ...newRowColumns(id, actorId, now),
          ...sealed.seal(id, { email: user.email, displayName: user.displayName }),
          emailIndex: deps.blindIndex.compute(normaliseEmail(user.email), EMAIL_INDEX_PURPOSE),
          passwordHash: user.passwordHash,
          platformRole: user.platformRole,
          mustChangePassword: user.mustChangePassword,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return open(row);
    },

    /** Looks a live user up by email through the blind index (every key version, for rotation). */
    async findByEmail(executor: Db | Tx, email: string) {
      const indexes = deps.blindIndex.computeAll(normaliseEmail(email), EMAIL_INDEX_PURPOSE);
      const row = await executor
        .selectFrom('users')
        .selectAll()
        .where('emailIndex', 'in', indexes)
        .where('deletedAt', 'is', null)
        .executeTakeFirst();
      return row ? open(row) : undefined;
    },

    async findById(executor: Db | Tx, id: string) {
      const row = await executor.selectFrom('users').selectAll().where('id', '=', id).where('deletedAt', 'is', null).executeTakeFirst();
      return row ? open(row) : undefined;
    },

    /** What authorisation needs about a user, without decrypting anything. */
    async findGrants(executor: Db | Tx, id: string) {
      return executor
        .selectFrom('users')
        .select(['status', 'platformRole', 'mustChangePassword', 'credentialsChangedAt'])
        .where('id', '=', id)
        .where('deletedAt', 'is', null)
        .executeTakeFirst();
    },

    async recordLogin(tx: Tx, id: string, now: Date, rehashedPassword: string | null) {
      await tx
        .updateTable('users')
        .set({ lastLoginAt: now, ...(rehashedPassword ? { passwordHash: rehashedPassword } : {}) })
        .where('id', '=', id)
        .execute();
    },

    /** A new password: clears a forced change and marks the credentials changed (older tokens die). */
    async setPassword(tx: Tx, id: string, passwordHash: string, now: Date) {
      await tx
        .updateTable('users')
        .set({ passwordHash, mustChangePassword: false, credentialsChangedAt: now, updatedAt: now, updatedBy: id, version: (eb) => eb('version', '+', 1) })
        .where('id', '=', id)
        .execute();
    },

    async countPlatformRole(executor: Db | Tx, role: PlatformRole): Promise<number> {
      const result = await executor
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('platformRole', '=', role)
        .where('deletedAt', 'is', null)
        .executeTakeFirstOrThrow();
      return Number(result.count);
    },
  };
}

export type UsersRepo = ReturnType<typeof createUsersRepo>;
export type User = Awaited<ReturnType<UsersRepo['insert']>>;
