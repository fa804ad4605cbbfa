import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { Db } from '../../platform/db/database.js';
import type { FieldCipher } from '../../platform/crypto/index.js';
import type { StoredAuditEvent } from '../../db/schema.js';
import type { AuditActorType, AuditOutcome } from './audit.catalogue.js';
import { auditEncryptedColumns } from './audit.repo.js';

/**
 * What a search of the trail may ask. `orgId` is always set by the service (never straight from a
 * query parameter): a string is one organisation's events, null the platform-level ones (no
 * organisation). Time bounds are [from, to).
 */
export interface AuditQueryFilter {
  orgId: string | null;
  actorId?: string | undefined;
  actorType?: AuditActorType | undefined;
  /** Exact action. */
  action?: string | undefined;
  /** Action prefix ending in a dot (`auth.`); only [a-z.-], so it carries no LIKE wildcard. */
  actionPrefix?: string | undefined;
  resourceType?: string | undefined;
  resourceId?: string | undefined;
  outcome?: AuditOutcome | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

/** One event as the audit API reads it: ip and user agent opened, the subject index never selected. */
export type AuditEventRecord = Omit<StoredAuditEvent, 'subjectIndex' | 'hash' | 'clientIp' | 'userAgent'> & {
  clientIp: string | null;
  userAgent: string | null;
};

export interface AuditCount<K extends string> {
  key: K;
  count: number;
}

// Stored actions match the table's CHECK pattern, so a stats group is small; still bounded.
const MAX_STATS_GROUPS = 200;

function conditions(eb: ExpressionBuilder<Database, 'auditEvents'>, filter: AuditQueryFilter): Expression<SqlBool>[] {
  const where: Expression<SqlBool>[] = [filter.orgId === null ? eb('orgId', 'is', null) : eb('orgId', '=', filter.orgId)];
  if (filter.actorId !== undefined) where.push(eb('actorId', '=', filter.actorId));
  if (filter.actorType !== undefined) where.push(eb('actorType', '=', filter.actorType));
  if (filter.action !== undefined) where.push(eb('action', '=', filter.action));
  if (filter.actionPrefix !== undefined) where.push(eb('action', 'like', `${filter.actionPrefix}%`));
  if (filter.resourceType !== undefined) where.push(eb('resourceType', '=', filter.resourceType));
  if (filter.resourceId !== undefined) where.push(eb('resourceId', '=', filter.resourceId));
  if (filter.outcome !== undefined) where.push(eb('outcome', '=', filter.outcome));
  if (filter.from !== undefined) where.push(eb('occurredAt', '>=', filter.from));
  if (filter.to !== undefined) where.push(eb('occurredAt', '<', filter.to));
  return where;
}

const COLUMNS = [
  'id', 'seq', 'occurredAt', 'actorType', 'actorId', 'actorUserId', 'orgId', 'action', 'resourceType', 'resourceId',
  'outcome', 'statusCode', 'requestId', 'clientIp', 'userAgent', 'changedFields', 'detail',
] as const;

/** Searches, batches and counts of the audit trail (read-only; inserts are audit.repo.ts). */
export function createAuditQueryRepo(deps: { cipher: FieldCipher }) {
  const sealed = auditEncryptedColumns(deps.cipher);

  const counts = async <K extends string>(db: Db, filter: AuditQueryFilter, column: 'action' | 'outcome' | 'actorType') => {
    const rows = await db
      .selectFrom('auditEvents')
      .select([column, (eb) => eb.fn.countAll<number>().as('count')])
      .where((eb) => eb.and(conditions(eb, filter)))
      .groupBy(column)
      .orderBy('count', 'desc')
      .orderBy(column)
      .limit(MAX_STATS_GROUPS)
      .execute();
    return rows.map((row) => ({ key: (row as Record<string, unknown>)[column] as K, count: Number(row.count) }));
  };

  return {
    /** Newest first (ids are UUIDv7: creation order); `beforeId` is the keyset position. */
    async listBefore(db: Db, filter: AuditQueryFilter, limit: number, beforeId: string | undefined): Promise<AuditEventRecord[]> {
      const rows = await db
        .selectFrom('auditEvents')
        .select(COLUMNS)
        .where((eb) => eb.and(beforeId === undefined ? conditions(eb, filter) : [...conditions(eb, filter), eb('id', '<', beforeId)]))
        .orderBy('id', 'desc')
        .limit(limit)
        .execute();
      return rows.map((row) => sealed.open(row) as unknown as AuditEventRecord);
    },

    /** How many events match, counting no further than `cap` (the export's truncation check). */
    async countUpTo(db: Db, filter: AuditQueryFilter, cap: number): Promise<number> {
      const row = await db
        .selectFrom((qb) =>
          qb
            .selectFrom('auditEvents')
            .select('id')
            .where((eb) => eb.and(conditions(eb, filter)))
            .limit(cap)
            .as('matching'),
        )
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    async countByAction(db: Db, filter: AuditQueryFilter) {
      return counts<string>(db, filter, 'action');
    },

    async countByOutcome(db: Db, filter: AuditQueryFilter) {
      return counts<AuditOutcome>(db, filter, 'outcome');
    },

    async countByActorType(db: Db, filter: AuditQueryFilter) {
      return counts<AuditActorType>(db, filter, 'actorType');
    },

    /** Per UTC day ('YYYY-MM-DD'), oldest first. */
    async countByDay(db: Db, filter: AuditQueryFilter): Promise<AuditCount<string>[]> {
      const day = sql<string>`to_char(date_trunc('day', occurred_at at time zone 'UTC'), 'YYYY-MM-DD')`;
      const rows = await db
        .selectFrom('auditEvents')
        .select([day.as('day'), (eb) => eb.fn.countAll<number>().as('count')])
        .where((eb) => eb.and(conditions(eb, filter)))
        .groupBy(day)
        .orderBy(day)
        .limit(MAX_STATS_GROUPS)
        .execute();
      return rows.map((row) => ({ key: row.day, count: Number(row.count) }));
    },
  };
}

export type AuditQueryRepo = ReturnType<typeof createAuditQueryRepo>;
