import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { newId } from '../../platform/ids.js';
import { AUDIT_ACTIONS, type AuditAction, type AuditActorType, type AuditOutcome } from './audit.catalogue.js';
import type { AuditEventRow, AuditRepo } from './audit.repo.js';

/** Who acted. An API key's owner is `userId`; the service itself is `system` with a job or command name. */
export interface AuditActor {
  type: AuditActorType;
  id: string | null;
  userId?: string | null;
}

/** Where an event comes from: the actor and, for a request, its organisation, id, address and agent. */
export interface AuditContext {
  actor: AuditActor;
  orgId?: string | null;
  requestId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
}

/** What happened. Values never go in: `changed` names fields, `detail` holds non-personal facts. */
export interface AuditEvent {
  action: AuditAction;
  outcome?: AuditOutcome;
  resourceId?: string | null;
  /** Overrides the catalogue's resource type (rarely: a denied request names the route). */
  resourceType?: string;
  /** Overrides the context's organisation (an action on another of the caller's organisations). */
  orgId?: string | null;
  changed?: readonly string[];
  /** Blind index of the account an anonymous event concerns (a failed login's submitted email). */
  subjectIndex?: Buffer | null;
  statusCode?: number;
  detail?: Record<string, string | number | boolean | null>;
}

// Bounds: an event is small whatever a caller passes (a hostile User-Agent, a body with 10,000 keys).
const MAX_CHANGED_FIELDS = 64;
const MAX_FIELD_NAME = 100;
// The largest detail a caller writes is a retention run's: outcome, trigger and its 15 data classes.
const MAX_DETAIL_KEYS = 32;
const MAX_DETAIL_TEXT = 200;
const MAX_USER_AGENT = 512;
const MAX_ID = 200;

const clip = (value: string | null | undefined, max: number): string | null => (value == null ? null : value.slice(0, max));

function boundedDetail(detail: AuditEvent['detail']): AuditEventRow['detail'] {
  const bounded: Record<string, string | number | boolean | null> = {};
  for (const [key, value] of Object.entries(detail ?? {}).slice(0, MAX_DETAIL_KEYS)) {
    bounded[key.slice(0, MAX_FIELD_NAME)] = typeof value === 'string' ? value.slice(0, MAX_DETAIL_TEXT) : value;
  }
  return bounded;
}

export const systemContext = (name: string): AuditContext => ({ actor: { type: 'system', id: name } });

/**
 * Records audit events (issue 4). `record` inserts in the caller's transaction, so a write and its
 * event commit or vanish together; `recordNow` commits on its own and returns only once the event is
 * durable (reads, denials, failed sign-ins: nothing to roll back, and the response must wait for it).
 */
export function createAuditRecorder(deps: { db: Db; auditRepo: Pick<AuditRepo, 'insert'>; clock: Clock }) {
  function toRow(context: AuditContext, event: AuditEvent): AuditEventRow {
    const changed = [...new Set(event.changed ?? [])].slice(0, MAX_CHANGED_FIELDS).map((name) => name.slice(0, MAX_FIELD_NAME));
    return {
      id: newId(),
      occurredAt: deps.clock.now(),
      actorType: context.actor.type,
      actorId: clip(context.actor.id, MAX_ID),
      actorUserId: context.actor.userId ?? (context.actor.type === 'user' ? context.actor.id : null),
      orgId: event.orgId !== undefined ? event.orgId : (context.orgId ?? null),
      action: event.action,
      resourceType: event.resourceType ?? AUDIT_ACTIONS[event.action].resource,
      resourceId: clip(event.resourceId, MAX_ID),
      subjectIndex: event.subjectIndex ?? null,
      outcome: event.outcome ?? 'success',
      statusCode: event.statusCode ?? null,
      requestId: context.requestId ?? null,
      clientIp: context.ip ?? null,
      userAgent: clip(context.userAgent, MAX_USER_AGENT),
      changedFields: changed,
      detail: boundedDetail(event.detail),
    };
  }

  return {
    async record(tx: Tx, context: AuditContext, event: AuditEvent): Promise<string> {
      const row = toRow(context, event);
      await deps.auditRepo.insert(tx, row);
      return row.id;
    },

    async recordNow(context: AuditContext, event: AuditEvent): Promise<string> {
      const row = toRow(context, event);
      await deps.auditRepo.insert(deps.db, row);
      return row.id;
    },
  };
}

export type AuditRecorder = ReturnType<typeof createAuditRecorder>;
