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

    async listForUser(executor: Db | Tx, userId: string) {
      return executor
        .selectFrom('memberships')
        .select(['orgId', 'role'])
        .where('userId', '=', userId)
        .where('deletedAt', 'is', null)
        .orderBy('orgId')
        .execute();
    },
  };
}

export type MembershipsRepo = ReturnType<typeof createMembershipsRepo>;
