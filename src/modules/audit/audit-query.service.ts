import { Readable } from 'node:stream';
import type { Principal } from '../../http/principal.js';
import { decodeCursor, toPage, type PageOf } from '../../http/pagination.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { AppError, errors } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import type { AuditEventRecord, AuditQueryFilter, AuditQueryRepo } from './audit-query.repo.js';
import {
  DEFAULT_RANGE_DAYS,
  MAX_RANGE_DAYS,
  type AuditEventView,
  type AuditEventsQueryType,
  type AuditExportQueryType,
  type AuditFilterQuery,
  type AuditStatsView,
} from './audit.schemas.js';

/** Reads every organisation's trail and the platform-level events (platform auditors, super-admins). */
export const PLATFORM_AUDIT_READ = 'platform:audit:read';
/** Export batches: one keyset query each, so no statement holds the database for long. */
export const EXPORT_BATCH_ROWS = 500;

const DAY_MS = 86_400_000;
const FORMULA_STARTS = new Set(['=', '+', '-', '@', '\t', '\r', '\u0000']);

const CSV_COLUMNS = [
  'id', 'seq', 'occurredAt', 'actorType', 'actorId', 'actorUserId', 'orgId', 'action', 'resourceType', 'resourceId',
  'outcome', 'statusCode', 'requestId', 'clientIp', 'userAgent', 'changedFields', 'detail',
] as const;

const scopeForbidden = (detail: string) => new AppError(403, 'audit_scope_forbidden', { detail });
const rangeError = (pointer: string, detail: string) => errors.validation([{ in: 'querystring', pointer, detail }]);

export const toAuditEventView = (row: AuditEventRecord): AuditEventView => ({
  id: row.id,
  seq: row.seq,
  occurredAt: row.occurredAt.toISOString(),
  actor: { type: row.actorType, id: row.actorId, userId: row.actorUserId },
  orgId: row.orgId,
  action: row.action,
  resource: { type: row.resourceType, id: row.resourceId },
  outcome: row.outcome,
  statusCode: row.statusCode,
  requestId: row.requestId,
  clientIp: row.clientIp,
  userAgent: row.userAgent,
  changedFields: row.changedFields,
  detail: row.detail as AuditEventView['detail'],
});

/**
 * One CSV cell (RFC 4180): quoted when it holds a quote, comma or line break. A cell a spreadsheet
 * would run as a formula (= + - @ tab CR NUL first) gets a leading apostrophe (CWE-1236, ASVS
 * 1.2.10): user agents, ids and detail come from callers, and an auditor opens this in a spreadsheet.
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (FORMULA_STARTS.has(text.charAt(0))) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const csvLine = (cells: readonly (string | number | null)[]) => `${cells.map(csvCell).join(',')}\r\n`;

function csvRow(row: AuditEventRecord): string {
  const flat: Record<(typeof CSV_COLUMNS)[number], string | number | null> = {
    ...row,
    occurredAt: row.occurredAt.toISOString(),
    changedFields: JSON.stringify(row.changedFields),
    detail: JSON.stringify(row.detail),
  };
  return csvLine(CSV_COLUMNS.map((column) => flat[column]));
}

const parseTime = (value: string | undefined) => (value === undefined ? undefined : new Date(value));

/**
 * The audit API (issue 4 item 3): search, export and statistics over the trail, each scoped here,
 * not by the route. An organisation's auditor sees only that organisation; platform-level events
 * (no organisation) and other organisations are for holders of `platform:audit:read` only, and
 * asking for them without it is refused with 403 (an explicit refusal the trail records as
 * `denied`, rather than an empty answer that looks like "nothing happened").
 */
export function createAuditQueryService(deps: {
  db: Db;
  auditQueryRepo: Pick<AuditQueryRepo, 'listBefore' | 'countUpTo' | 'countByAction' | 'countByOutcome' | 'countByActorType' | 'countByDay'>;
  clock: Pick<Clock, 'now'>;
}) {
  const { db, auditQueryRepo: repo } = deps;

  /** Which events the caller may see: one organisation (a string) or the platform-level ones (null). */
  function scopeOf(principal: Principal, query: AuditFilterQuery, orgPermission: string): string | null {
    const platform = principal.permissions.has(PLATFORM_AUDIT_READ);
    if (query.scope === 'platform') {
      if (!platform) throw scopeForbidden('Platform-level events are visible to platform auditors only.');
      if (query.orgId !== undefined) throw rangeError('/orgId', 'scope=platform reads events of no organisation; leave orgId out.');
      return null;
    }
    if (query.orgId !== undefined) {
      if (!platform) throw scopeForbidden('Only platform auditors choose the organisation; you read your active organisation.');
      return query.orgId;
    }
    if (principal.orgId && (platform || principal.permissions.has(orgPermission))) return principal.orgId;
    if (platform) throw rangeError('/scope', 'You have no active organisation: ask for scope=platform or an orgId.');
    throw scopeForbidden('You may not read the audit trail of your active organisation.');
  }

  function filterOf(orgId: string | null, query: AuditFilterQuery): AuditQueryFilter {
    const prefix = query.action?.endsWith('.');
    return {
      orgId,
      actorId: query.actorId,
      actorType: query.actorType,
      action: prefix ? undefined : query.action,
      actionPrefix: prefix ? query.action : undefined,
      resourceType: query.resourceType,
      resourceId: query.resourceId,
      outcome: query.outcome,
      from: parseTime(query.from),
      to: parseTime(query.to),
    };
  }

  /** Export and statistics cover at most MAX_RANGE_DAYS; missing ends default to now and 30 days before. */
  function boundedRange(query: AuditFilterQuery): { from: Date; to: Date } {
    // `to` is exclusive; left out, it ends after the current millisecond, so an event recorded just
    // before the request, in the same millisecond, is still read.
    const to = parseTime(query.to) ?? new Date(deps.clock.now().getTime() + 1);
    const from = parseTime(query.from) ?? new Date(to.getTime() - DEFAULT_RANGE_DAYS * DAY_MS);
    if (from.getTime() >= to.getTime()) throw rangeError('/from', '`from` must be before `to`.');
    if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) throw rangeError('/from', `The time range may span at most ${MAX_RANGE_DAYS} days.`);
    return { from, to };
  }

  async function* batches(filter: AuditQueryFilter, limit: number, line: (row: AuditEventRecord) => string, header: string | null) {
    if (header !== null) yield header;
    let remaining = limit;
    let beforeId: string | undefined;
    // Each batch is its own short query: no connection or snapshot is held while the client reads.
    while (remaining > 0) {
      const rows = await repo.listBefore(db, filter, Math.min(EXPORT_BATCH_ROWS, remaining), beforeId);
      if (rows.length === 0) return;
      yield rows.map(line).join('');
      remaining -= rows.length;
      beforeId = rows.at(-1)!.id;
      if (rows.length < EXPORT_BATCH_ROWS) return;
    }
  }

  return {
    async list(principal: Principal, query: AuditEventsQueryType): Promise<PageOf<AuditEventView>> {
      const filter = filterOf(scopeOf(principal, query, 'audit:read'), query);
      const [beforeId] = decodeCursor(query.cursor, 1) ?? [];
      // The position is compared with a uuid column: anything else would be a database error, not a 400.
      if (beforeId !== undefined && (typeof beforeId !== 'string' || !isUuid(beforeId))) throw errors.badRequest('invalid_cursor', 'The cursor is not one this API issued.');
      const rows = await repo.listBefore(db, filter, query.limit + 1, beforeId);
      return toPage(rows, query.limit, (row) => [row.id], toAuditEventView);
    },

    /**
     * A streamed export, newest first, at most `query.limit` rows (≤ EXPORT_MAX_ROWS) over a
     * bounded range; `truncated` says more events matched than were exported. Scope, filters and
     * range are checked before anything is streamed, so a refusal is an ordinary problem response.
     */
    async export(principal: Principal, query: AuditExportQueryType) {
      const orgId = scopeOf(principal, query, 'audit:export');
      const range = boundedRange(query);
      const filter = { ...filterOf(orgId, query), ...range };
      const truncated = (await repo.countUpTo(db, filter, query.limit + 1)) > query.limit;
      const csv = query.format === 'csv';
      const stamp = range.to.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      const label = orgId ?? 'platform';
      return {
        truncated,
        contentType: csv ? 'text/csv; charset=utf-8; header=present' : 'application/x-ndjson; charset=utf-8',
        filename: `audit-events-${label}-${stamp}.${csv ? 'csv' : 'jsonl'}`,
        stream: Readable.from(
          csv
            ? batches(filter, query.limit, csvRow, csvLine(CSV_COLUMNS))
            : batches(filter, query.limit, (row) => `${JSON.stringify(toAuditEventView(row))}\n`, null),
          { objectMode: false },
        ),
      };
    },

    async stats(principal: Principal, query: AuditFilterQuery): Promise<AuditStatsView> {
      const orgId = scopeOf(principal, query, 'audit:read');
      const range = boundedRange(query);
      const filter = { ...filterOf(orgId, query), ...range };
      // One after the other: the embedded database has a single session anyway.
      const byAction = await repo.countByAction(db, filter);
      const byOutcome = await repo.countByOutcome(db, filter);
      const byActorType = await repo.countByActorType(db, filter);
      const perDay = await repo.countByDay(db, filter);
      return {
        from: range.from.toISOString(),
        to: range.to.toISOString(),
        total: byOutcome.reduce((sum, entry) => sum + entry.count, 0),
        byAction: byAction.map(({ key, count }) => ({ action: key, count })),
        byOutcome: byOutcome.map(({ key, count }) => ({ outcome: key, count })),
        byActorType: byActorType.map(({ key, count }) => ({ actorType: key, count })),
        perDay: perDay.map(({ key, count }) => ({ day: key, count })),
      };
    },
  };
}

export type AuditQueryService = ReturnType<typeof createAuditQueryService>;
