import type { Selectable, Updateable } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { newRowColumns } from '../../platform/db/common-columns.js';
import type { OrganisationsTable } from '../../db/schema.js';

export type Organisation = Selectable<OrganisationsTable>;

/** Result of a version-checked write: it happened, the version was stale, or the row is gone. */
export type VersionedWrite<T> = { outcome: 'written'; row: T } | { outcome: 'stale' } | { outcome: 'missing' };

/**
 * Compare-and-set in one statement: the row changes only if it is live and still has the version
 * the client read, so of two concurrent updates exactly one wins. A miss is then told apart as
 * stale (someone else won) or missing (deleted or never there).
 */
async function compareAndSet(
  tx: Tx,
  orgId: string,
  expectedVersion: number,
  values: Updateable<OrganisationsTable>,
): Promise<VersionedWrite<Organisation>> {
  const row = await tx
    .updateTable('organisations')
    .set((eb) => ({ ...values, version: eb('version', '+', 1) }))
    .where('id', '=', orgId)
    .where('version', '=', expectedVersion)
    .where('deletedAt', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (row) return { outcome: 'written', row };
  return outcomeOfMiss(tx, orgId);
}

async function outcomeOfMiss(tx: Tx, orgId: string): Promise<{ outcome: 'stale' } | { outcome: 'missing' }> {
  const live = await tx.selectFrom('organisations').select('id').where('id', '=', orgId).where('deletedAt', 'is', null).executeTakeFirst();
  return live ? { outcome: 'stale' } : { outcome: 'missing' };
}

export function createOrgsRepo(deps: { db: Db }) {
  return {
    async insert(tx: Tx, id: string, values: { name: string; slug: string }, actorId: string | null, now: Date) {
      return tx
        .insertInto('organisations')
        .values({ ...newRowColumns(id, actorId, now), ...values })
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    /** A live organisation the user belongs to (undefined for any other: the caller answers 404). */
    async findForMember(executor: Db | Tx, orgId: string, userId: string | null): Promise<Organisation | undefined> {
      let query = executor.selectFrom('organisations').selectAll('organisations').where('organisations.id', '=', orgId).where('organisations.deletedAt', 'is', null);
      if (userId !== null) {
        query = query.where((eb) =>
          eb.exists(
            eb
              .selectFrom('memberships')
              .select('memberships.id')
              .whereRef('memberships.orgId', '=', 'organisations.id')
              .where('memberships.userId', '=', userId)
              .where('memberships.deletedAt', 'is', null),
          ),
        );
      }
      return query.executeTakeFirst();
    },

    /** Keyset page by id (UUIDv7 is time-ordered); fetches limit + 1 to know if there is more. */
    async listForMember(userId: string | null, limit: number, afterId: string | undefined): Promise<Organisation[]> {
      let query = deps.db.selectFrom('organisations').selectAll('organisations').where('organisations.deletedAt', 'is', null);
      if (userId !== null) {
        query = query
          .innerJoin('memberships', 'memberships.orgId', 'organisations.id')
          .where('memberships.userId', '=', userId)
          .where('memberships.deletedAt', 'is', null);
      }
      if (afterId) query = query.where('organisations.id', '>', afterId);
      return query.orderBy('organisations.id').limit(limit + 1).execute();
    },

    async update(tx: Tx, orgId: string, expectedVersion: number, values: { name?: string; slug?: string }, actorId: string | null, now: Date) {
      return compareAndSet(tx, orgId, expectedVersion, { ...values, updatedAt: now, updatedBy: actorId });
    },

    async softDelete(tx: Tx, orgId: string, expectedVersion: number, actorId: string | null, now: Date) {
      return compareAndSet(tx, orgId, expectedVersion, { deletedAt: now, deletedBy: actorId, updatedAt: now, updatedBy: actorId });
    },
  };
}

export type OrgsRepo = ReturnType<typeof createOrgsRepo>;
