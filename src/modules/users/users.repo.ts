import type { Selectable } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { newRowColumns } from '../../platform/db/common-columns.js';
import { encryptedColumns, normaliseEmail, type BlindIndex, type FieldCipher } from '../../platform/crypto/index.js';
import type { PlatformRole, UserStatus, UsersTable } from '../../db/schema.js';

/** Purpose label of the email blind index (changing it orphans every stored index). */
export const EMAIL_INDEX_PURPOSE = 'users.email';

/** Result of a version-checked write: it happened, the version was stale, or the user is gone. */
export type UserWrite<T> = { outcome: 'written'; row: T } | { outcome: 'stale' } | { outcome: 'missing' };

export interface NewUser {
  email: string;
  displayName: string;
  passwordHash: string | null;
  platformRole: PlatformRole | null;
  mustChangePassword: boolean;
}

async function writtenOrMiss<T>(tx: Tx, id: string, row: T | undefined): Promise<UserWrite<T>> {
  if (row !== undefined) return { outcome: 'written', row };
  const live = await tx.selectFrom('users').select('id').where('id', '=', id).where('deletedAt', 'is', null).executeTakeFirst();
  return live ? { outcome: 'stale' } : { outcome: 'missing' };
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

    /** Keyset page of live users by id (UUIDv7, so creation order); fetches limit + 1. */
    async listPage(executor: Db | Tx, limit: number, afterId: string | undefined) {
      let query = executor.selectFrom('users').selectAll().where('deletedAt', 'is', null);
      if (afterId) query = query.where('id', '>', afterId);
      const rows = await query.orderBy('id').limit(limit + 1).execute();
      return rows.map(open);
    },

    async findManyByIds(executor: Db | Tx, ids: readonly string[]) {
      if (ids.length === 0) return [];
      const rows = await executor.selectFrom('users').selectAll().where('id', 'in', ids).where('deletedAt', 'is', null).execute();
      return rows.map(open);
    },

    /**
     * The display name, compare-and-set on `expectedVersion` when one is given (optimistic locking
     * is optional for one's own profile): of two concurrent edits naming one version, one wins.
     */
    async updateDisplayName(tx: Tx, id: string, expectedVersion: number | undefined, displayName: string, now: Date) {
      let query = tx
        .updateTable('users')
        .set((eb) => ({ ...sealed.seal(id, { displayName }), updatedAt: now, updatedBy: id, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('deletedAt', 'is', null);
      if (expectedVersion !== undefined) query = query.where('version', '=', expectedVersion);
      const row = await query.returningAll().executeTakeFirst();
      return writtenOrMiss(tx, id, row ? open(row) : undefined);
    },

    /** Sets the account status; returns the row, or undefined when the user is gone. */
    async setStatus(tx: Tx, id: string, status: UserStatus, actorId: string | null, now: Date) {
      const row = await tx
        .updateTable('users')
        .set((eb) => ({ status, updatedAt: now, updatedBy: actorId, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('deletedAt', 'is', null)
        .returningAll()
        .executeTakeFirst();
      return row ? open(row) : undefined;
    },

    /** Soft delete, compare-and-set on the version the administrator read. */
    async softDelete(tx: Tx, id: string, expectedVersion: number, actorId: string | null, now: Date) {
      const row = await tx
        .updateTable('users')
        .set((eb) => ({ deletedAt: now, deletedBy: actorId, updatedAt: now, updatedBy: actorId, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('version', '=', expectedVersion)
        .where('deletedAt', 'is', null)
        .returning(['id'])
        .executeTakeFirst();
      return writtenOrMiss(tx, id, row);
    },

    /**
     * Locks the live, active holders of a platform role until the transaction ends and returns their
     * ids: two administrators disabling each other at once queue here, and the second sees the first.
     */
    async lockActivePlatformRole(tx: Tx, role: PlatformRole): Promise<string[]> {
      const rows = await tx
        .selectFrom('users')
        .select('id')
        .where('platformRole', '=', role)
        .where('status', '=', 'active')
        .where('deletedAt', 'is', null)
        .orderBy('id')
        .forUpdate()
        .execute();
      return rows.map((row) => row.id);
    },

    /**
     * Retention (issue 9 §4, ADR 0013): replaces a soft-deleted user's email and name by the given
     * placeholders, sealed like any other value, re-indexes the email so the old address finds
     * nothing, and clears the password hash. Once only: false when the user is live or already done.
     */
    async anonymise(tx: Tx, id: string, placeholder: { email: string; displayName: string }, now: Date): Promise<boolean> {
      const row = await tx
        .updateTable('users')
        .set((eb) => ({
          ...sealed.seal(id, placeholder),
          emailIndex: deps.blindIndex.compute(normaliseEmail(placeholder.email), EMAIL_INDEX_PURPOSE),
          passwordHash: null,
          anonymisedAt: now,
          updatedAt: now,
          updatedBy: null,
          version: eb('version', '+', 1),
        }))
        .where('id', '=', id)
        .where('deletedAt', 'is not', null)
        .where('anonymisedAt', 'is', null)
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
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
