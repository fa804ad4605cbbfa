import { sql } from 'kysely';
import type { AuditAlertSeverity } from '../../db/schema.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { EventFilter, EventWindow, WindowCount } from './alert-rules.js';

/** An alert as stored. */
export interface AuditAlertRow {
  id: string;
  orgId: string | null;
  rule: string;
  severity: AuditAlertSeverity;
  summary: string;
  triggeredAt: Date;
  firstSeq: number;
  lastSeq: number;
  eventIds: string[];
  detail: Record<string, string | number | boolean | null>;
  createdAt: Date;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  note: string | null;
}

export interface NewAuditAlert extends Omit<AuditAlertRow, 'acknowledgedAt' | 'acknowledgedBy' | 'note'> {
  groupKey: string;
  dedupeKey: string;
}

/** Which alerts a caller may see: one organisation's, the platform-level ones (org null), or both. */
export interface AlertScope {
  orgId: string | null;
  platform: boolean;
}

const ALERT_COLUMNS = [
  'id',
  'orgId',
  'rule',
  'severity',
  'summary',
  'triggeredAt',
  'firstSeq',
  'lastSeq',
  'eventIds',
  'detail',
  'createdAt',
  'acknowledgedAt',
  'acknowledgedBy',
  'note',
] as const;

const toCount = (row: { count: unknown; firstSeq: unknown } | undefined): WindowCount => ({
  count: Number(row?.count ?? 0),
  firstSeq: row?.firstSeq == null ? null : Number(row.firstSeq),
});

/** SQL of the analysis (cursor, sealed events, windowed counts) and of alerts and their webhook outbox. */
export function createAlertsRepo() {
  return {
    /** The cursor row, locked for the transaction: concurrent runs of one analysis take turns. */
    async lockCursor(tx: Tx, name: string, now: Date): Promise<number> {
      await tx.insertInto('auditAnalysisCursors').values({ name, lastSeq: 0, updatedAt: now }).onConflict((oc) => oc.column('name').doNothing()).execute();
      const row = await tx.selectFrom('auditAnalysisCursors').select('lastSeq').where('name', '=', name).forUpdate().executeTakeFirstOrThrow();
      return Number(row.lastSeq);
    },

    async advanceCursor(tx: Tx, name: string, lastSeq: number, now: Date): Promise<void> {
      await tx.updateTable('auditAnalysisCursors').set({ lastSeq, updatedAt: now }).where('name', '=', name).execute();
    },

    /** Sealed events after `afterSeq`, in chain order. */
    sealedAfter(tx: Tx, afterSeq: number, limit: number) {
      return tx
        .selectFrom('auditEvents')
        .select(['id', 'seq', 'occurredAt', 'actorType', 'actorId', 'orgId', 'action', 'resourceType', 'resourceId', 'subjectIndex', 'outcome', 'detail', 'clientIp'])
        .where('seq', '>', afterSeq)
        .orderBy('seq')
        .limit(limit)
        .execute();
    },

    async countEvents(tx: Tx, filter: EventFilter, window: EventWindow): Promise<WindowCount> {
      let query = tx
        .selectFrom('auditEvents')
        .select((eb) => [eb.fn.countAll().as('count'), eb.fn.min('seq').as('firstSeq')])
        .where('action', 'in', [...filter.actions])
        .where('seq', '<=', window.upToSeq)
        .where('occurredAt', '>', window.from)
        .where('occurredAt', '<=', window.to);
      if (filter.subjectIndex) query = query.where('subjectIndex', '=', filter.subjectIndex);
      if (filter.actorId !== undefined) query = query.where('actorId', '=', filter.actorId);
      if (filter.orgId !== undefined) query = filter.orgId === null ? query.where('orgId', 'is', null) : query.where('orgId', '=', filter.orgId);
      return toCount(await query.executeTakeFirst());
    },

    async recordIpFailures(tx: Tx, rows: ReadonlyArray<{ eventId: string; seq: number; ipIndex: Buffer; occurredAt: Date }>): Promise<void> {
      if (rows.length === 0) return;
      await tx
        .insertInto('auditAnalysisIpFailures')
        .values([...rows])
        .onConflict((oc) => oc.column('eventId').doNothing())
        .execute();
    },

    async countIpFailures(tx: Tx, ipIndex: Buffer, window: EventWindow): Promise<WindowCount> {
      const row = await tx
        .selectFrom('auditAnalysisIpFailures')
        .select((eb) => [eb.fn.countAll().as('count'), eb.fn.min('seq').as('firstSeq')])
        .where('ipIndex', '=', ipIndex)
        .where('seq', '<=', window.upToSeq)
        .where('occurredAt', '>', window.from)
        .where('occurredAt', '<=', window.to)
        .executeTakeFirst();
      return toCount(row);
    },

    /** Deletes at most `batch` address rows older than `before`; returns how many. */
    async purgeIpFailures(db: Db, before: Date, batch: number): Promise<number> {
      const result = await db
        .deleteFrom('auditAnalysisIpFailures')
        .where('eventId', 'in', (eb) => eb.selectFrom('auditAnalysisIpFailures').select('eventId').where('occurredAt', '<', before).limit(batch))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async raisedSince(tx: Tx, rule: string, groupKey: string, since: Date): Promise<boolean> {
      const row = await tx
        .selectFrom('auditAlerts')
        .select('id')
        .where('rule', '=', rule)
        .where('groupKey', '=', groupKey)
        .where('triggeredAt', '>=', since)
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },

    /** Inserts unless an alert with the dedupe key exists; true when this call inserted it. */
    async insertAlert(tx: Tx, alert: NewAuditAlert): Promise<boolean> {
      const inserted = await tx
        .insertInto('auditAlerts')
        .values({ ...alert, eventIds: JSON.stringify(alert.eventIds), detail: JSON.stringify(alert.detail) })
        .onConflict((oc) => oc.column('dedupeKey').doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    /** Newest first, keyset-paginated by id (UUIDv7: time order). */
    list(executor: Db | Tx, scope: AlertScope, filter: { status?: 'open' | 'acknowledged'; rule?: string; beforeId?: string }, limit: number) {
      let query = executor
        .selectFrom('auditAlerts')
        .select(ALERT_COLUMNS)
        .where((eb) => {
          const visible = [];
          if (scope.orgId) visible.push(eb('orgId', '=', scope.orgId));
          if (scope.platform) visible.push(eb('orgId', 'is', null));
          return visible.length > 0 ? eb.or(visible) : sql<boolean>`false`;
        });
      if (filter.status === 'open') query = query.where('acknowledgedAt', 'is', null);
      if (filter.status === 'acknowledged') query = query.where('acknowledgedAt', 'is not', null);
      if (filter.rule) query = query.where('rule', '=', filter.rule);
      if (filter.beforeId) query = query.where('id', '<', filter.beforeId);
      return query.orderBy('id', 'desc').limit(limit).execute() as Promise<AuditAlertRow[]>;
    },

    find(executor: Db | Tx, id: string) {
      return executor.selectFrom('auditAlerts').select(ALERT_COLUMNS).where('id', '=', id).executeTakeFirst() as Promise<AuditAlertRow | undefined>;
    },

    /** Acknowledges an open alert; undefined when it was acknowledged already (a concurrent call won). */
    acknowledge(tx: Tx, id: string, by: string, note: string | null, now: Date) {
      return tx
        .updateTable('auditAlerts')
        .set({ acknowledgedAt: now, acknowledgedBy: by, note })
        .where('id', '=', id)
        .where('acknowledgedAt', 'is', null)
        .returning(ALERT_COLUMNS)
        .executeTakeFirst() as Promise<AuditAlertRow | undefined>;
    },

    async insertDelivery(tx: Tx, alertId: string, now: Date): Promise<void> {
      await tx.insertInto('auditAlertDeliveries').values({ alertId, nextAttemptAt: now, lastError: null, createdAt: now, deliveredAt: null }).execute();
    },

    /** Claims due deliveries (SKIP LOCKED, attempt counted, hidden until `leaseUntil`) with their alerts. */
    async claimDeliveries(tx: Tx, now: Date, limit: number, leaseUntil: Date) {
      const due = await tx
        .selectFrom('auditAlertDeliveries')
        .select(['alertId', 'attempts'])
        .where('status', '=', 'pending')
        .where('nextAttemptAt', '<=', now)
        .orderBy('nextAttemptAt')
        .limit(limit)
        .forUpdate()
        .skipLocked()
        .execute();
      if (due.length === 0) return [];
      const ids = due.map((row) => row.alertId);
      await tx
        .updateTable('auditAlertDeliveries')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), nextAttemptAt: leaseUntil }))
        .where('alertId', 'in', ids)
        .execute();
      const alerts = await tx.selectFrom('auditAlerts').select(ALERT_COLUMNS).where('id', 'in', ids).execute();
      const attemptsOf = new Map(due.map((row) => [row.alertId, row.attempts + 1]));
      return (alerts as AuditAlertRow[]).map((alert) => ({ alert, attempts: attemptsOf.get(alert.id) ?? 1 }));
    },

    async markDelivered(db: Db, alertId: string, now: Date): Promise<void> {
      await db.updateTable('auditAlertDeliveries').set({ status: 'delivered', deliveredAt: now, lastError: null }).where('alertId', '=', alertId).execute();
    },

    /** A failed attempt: retried at `retryAt`, or given up on (`retryAt` null). The error is a code, never a body. */
    async markAttemptFailed(db: Db, alertId: string, error: string, retryAt: Date | null): Promise<void> {
      await db
        .updateTable('auditAlertDeliveries')
        .set(retryAt ? { lastError: error.slice(0, 200), nextAttemptAt: retryAt } : { lastError: error.slice(0, 200), status: 'failed' })
        .where('alertId', '=', alertId)
        .execute();
    },
  };
}

export type AlertsRepo = ReturnType<typeof createAlertsRepo>;
