import type { Static } from 'typebox';
import type { Principal } from '../../http/principal.js';
import { decodeCursor, toPage, type PageOf } from '../../http/pagination.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { errors } from '../../platform/errors.js';
import type { AlertScope, AlertsRepo, AuditAlertRow } from './alerts.repo.js';
import type { AlertSchema, ListAlertsQuery } from './alerts.schemas.js';

export type AlertView = Static<typeof AlertSchema>;

/** An organisation's auditors, admins and owners read its alerts. */
const ORG_READ = 'audit:read';
/** Acknowledging an organisation's alert is a write: the grant auditors, admins and owners hold for exports. */
const ORG_MANAGE = 'audit:export';
/** Platform-level alerts (failed sign-ins, chain verification, platform roles) are the platform auditors'. */
const PLATFORM = 'platform:audit:read';

export const toAlertView = (row: AuditAlertRow): AlertView => ({
  id: row.id,
  orgId: row.orgId,
  rule: row.rule,
  severity: row.severity,
  summary: row.summary,
  status: row.acknowledgedAt ? 'acknowledged' : 'open',
  triggeredAt: row.triggeredAt.toISOString(),
  firstSeq: Number(row.firstSeq),
  lastSeq: Number(row.lastSeq),
  eventIds: row.eventIds,
  detail: row.detail,
  createdAt: row.createdAt.toISOString(),
  acknowledgedAt: row.acknowledgedAt?.toISOString() ?? null,
  acknowledgedBy: row.acknowledgedBy,
  note: row.note,
});

const scopeOf = (principal: Principal, orgPermission: string): AlertScope => ({
  orgId: principal.orgId && principal.permissions.has(orgPermission) ? principal.orgId : null,
  platform: principal.permissions.has(PLATFORM),
});

const inScope = (scope: AlertScope, alert: AuditAlertRow): boolean => (alert.orgId === null ? scope.platform : alert.orgId === scope.orgId);

/**
 * Lists and acknowledges audit alerts, scoped here: an organisation's alerts to its auditors (and
 * admins, owners), platform-level alerts to platform auditors. An alert outside the caller's scope
 * answers 404, never 403 (DESIGN §5).
 */
export function createAlertsService(deps: { db: Db; clock: Pick<Clock, 'now'>; alertsRepo: Pick<AlertsRepo, 'list' | 'find' | 'acknowledge'> }) {
  return {
    async list(principal: Principal, query: Static<typeof ListAlertsQuery>): Promise<PageOf<AlertView>> {
      const [beforeId] = decodeCursor(query.cursor, 1) ?? [];
      const rows = await deps.alertsRepo.list(
        deps.db,
        scopeOf(principal, ORG_READ),
        { ...(query.status ? { status: query.status } : {}), ...(query.rule ? { rule: query.rule } : {}), ...(typeof beforeId === 'string' ? { beforeId } : {}) },
        query.limit + 1,
      );
      return toPage(rows, query.limit, (row) => [row.id], toAlertView);
    },

    async acknowledge(tx: Tx, principal: Principal, id: string, note: string | undefined): Promise<AlertView> {
      const alert = await deps.alertsRepo.find(tx, id);
      if (!alert || !inScope(scopeOf(principal, ORG_MANAGE), alert)) throw errors.notFound('alert');
      const acknowledged = await deps.alertsRepo.acknowledge(tx, id, principal.userId ?? principal.id, note ?? null, deps.clock.now());
      if (!acknowledged) throw errors.conflict('alert_already_acknowledged', 'The alert was acknowledged already.');
      return toAlertView(acknowledged);
    },
  };
}

export type AlertsService = ReturnType<typeof createAlertsService>;
