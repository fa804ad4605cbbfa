import type { Tx } from '../../platform/db/transaction.js';
import type { Db } from '../../platform/db/database.js';
import { newRowColumns } from '../../platform/db/common-columns.js';
import type { OrgRole } from '../../db/schema.js';

export function createMembershipsRepo() {
  return {
    async insert(tx: Tx, id: string, values: { orgId: string; userId: string; role: OrgRole }, actorId: string | null, now: Date) {
      return tx
        .insertInto('memberships')
        .values({ ...newRowColumns(id, actorId, now), ...values })
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    /**
     * The user's live memberships in live organisations (a deleted organisation grants nothing), each with
     * whether it holds the raw-content grant: the grant is per membership, never per user.
     */
    async listForUser(executor: Db | Tx, userId: string): Promise<Array<{ orgId: string; role: OrgRole; rawContent: boolean }>> {
      const rows = await executor
        .selectFrom('memberships')
        .innerJoin('organisations', 'organisations.id', 'memberships.orgId')
        .select(['memberships.orgId', 'memberships.role', 'memberships.rawContentGrantedAt'])
        .where('memberships.userId', '=', userId)
        .where('memberships.deletedAt', 'is', null)
        .where('organisations.deletedAt', 'is', null)
        .orderBy('memberships.orgId')
        .execute();
      return rows.map((row) => ({ orgId: row.orgId, role: row.role, rawContent: row.rawContentGrantedAt !== null }));
    },

    /** The user's live organisations with their role there (what a profile shows), in id order. */
    async listOrgsForUser(executor: Db | Tx, userId: string, limit: number) {
      return executor
        .selectFrom('memberships')
        .innerJoin('organisations', 'organisations.id', 'memberships.orgId')
        .select(['organisations.id', 'organisations.name', 'organisations.slug', 'memberships.role'])
        .where('memberships.userId', '=', userId)
        .where('memberships.deletedAt', 'is', null)
        .where('organisations.deletedAt', 'is', null)
        .orderBy('organisations.id')
        .limit(limit)
        .execute();
    },

    /** Keyset page of an organisation's live memberships by membership id; fetches limit + 1. */
    async listForOrg(executor: Db | Tx, orgId: string, limit: number, afterId: string | undefined) {
      let query = executor
        .selectFrom('memberships')
        .select(['id', 'userId', 'role', 'createdAt', 'rawContentGrantedAt'])
        .where('orgId', '=', orgId)
        .where('deletedAt', 'is', null);
      if (afterId) query = query.where('id', '>', afterId);
      return query.orderBy('id').limit(limit + 1).execute();
    },

    /** Every live member's user id (to drop cached profiles after a rename or delete). */
    async listUserIds(executor: Db | Tx, orgId: string): Promise<string[]> {
      const rows = await executor.selectFrom('memberships').select('userId').where('orgId', '=', orgId).where('deletedAt', 'is', null).execute();
      return rows.map((row) => row.userId);
    },

    async findLive(executor: Db | Tx, orgId: string, userId: string) {
      return executor
        .selectFrom('memberships')
        .select(['id', 'userId', 'role', 'createdAt', 'rawContentGrantedAt'])
        .where('orgId', '=', orgId)
        .where('userId', '=', userId)
        .where('deletedAt', 'is', null)
        .executeTakeFirst();
    },

    /** The member's row, locked until the transaction ends. */
    async lockLive(tx: Tx, orgId: string, userId: string) {
      return tx
        .selectFrom('memberships')
        .select(['id', 'userId', 'role', 'createdAt', 'rawContentGrantedAt'])
        .where('orgId', '=', orgId)
        .where('userId', '=', userId)
        .where('deletedAt', 'is', null)
        .forUpdate()
        .executeTakeFirst();
    },

    /**
     * Locks the organisation's owner memberships (in id order, so concurrent writers queue instead of
     * deadlocking) and returns their user ids. A concurrent demotion waits here and then sees the
     * other's committed change, so two demotions cannot both leave the organisation without an owner.
     */
    async lockOwners(tx: Tx, orgId: string): Promise<string[]> {
      const rows = await tx
        .selectFrom('memberships')
        .select(['id', 'userId'])
        .where('orgId', '=', orgId)
        .where('role', '=', 'owner')
        .where('deletedAt', 'is', null)
        .orderBy('id')
        .forUpdate()
        .execute();
      return rows.map((row) => row.userId);
    },

    /**
     * Locks every owner membership of the live organisations this user owns and returns, per organisation,
     * its owners' user ids; deleting the user is refused where they would leave none.
     */
    async lockOwnersOfOrgsOwnedBy(tx: Tx, userId: string): Promise<Map<string, string[]>> {
      const rows = await tx
        .selectFrom('memberships')
        .select(['id', 'orgId', 'userId'])
        .where('role', '=', 'owner')
        .where('deletedAt', 'is', null)
        .where('orgId', 'in', (eb) =>
          eb
            .selectFrom('memberships as mine')
            .innerJoin('organisations', 'organisations.id', 'mine.orgId')
            .select('mine.orgId')
            .where('mine.userId', '=', userId)
            .where('mine.role', '=', 'owner')
            .where('mine.deletedAt', 'is', null)
            .where('organisations.deletedAt', 'is', null),
        )
        .orderBy('id')
        .forUpdate()
        .execute();
      const owners = new Map<string, string[]>();
      for (const row of rows) owners.set(row.orgId, [...(owners.get(row.orgId) ?? []), row.userId]);
      return owners;
    },

    async setRole(tx: Tx, id: string, role: OrgRole, actorId: string | null, now: Date) {
      await tx
        .updateTable('memberships')
        .set((eb) => ({ role, updatedAt: now, updatedBy: actorId, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('deletedAt', 'is', null)
        .execute();
    },

    /** Gives (`grantedBy` set) or takes away (null) the membership's raw-content grant; both columns move together. */
    async setRawContentGrant(tx: Tx, id: string, grantedBy: string | null, actorId: string | null, now: Date) {
      await tx
        .updateTable('memberships')
        .set((eb) => ({
          rawContentGrantedAt: grantedBy ? now : null,
          rawContentGrantedBy: grantedBy,
          updatedAt: now,
          updatedBy: actorId,
          version: eb('version', '+', 1),
        }))
        .where('id', '=', id)
        .where('deletedAt', 'is', null)
        .execute();
    },

    async softDelete(tx: Tx, id: string, actorId: string | null, now: Date) {
      await tx
        .updateTable('memberships')
        .set((eb) => ({ deletedAt: now, deletedBy: actorId, updatedAt: now, updatedBy: actorId, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('deletedAt', 'is', null)
        .execute();
    },

    async softDeleteAllForUser(tx: Tx, userId: string, actorId: string | null, now: Date) {
      await tx
        .updateTable('memberships')
        .set((eb) => ({ deletedAt: now, deletedBy: actorId, updatedAt: now, updatedBy: actorId, version: eb('version', '+', 1) }))
        .where('userId', '=', userId)
        .where('deletedAt', 'is', null)
        .execute();
    },
  };
}

export type MembershipsRepo = ReturnType<typeof createMembershipsRepo>;
