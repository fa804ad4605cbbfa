import type { FastifyInstance, FastifyRequest, onSendHookHandler, RouteOptions } from 'fastify';
import type { Principal, RouteAudit } from '../../http/principal.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { Logger } from '../../platform/logger.js';
import { AUDIT_ACTIONS, isAuditAction, type AuditAction, type AuditOutcome } from './audit.catalogue.js';
import type { AuditActor, AuditContext, AuditRecorder } from './audit.recorder.js';

/** Fields a body may carry that name no change (the optimistic-locking version). */
const NOT_CHANGES = new Set(['version']);

function actorOf(principal: Principal | null): AuditActor {
  if (!principal) return { type: 'anonymous', id: null };
  switch (principal.type) {
    case 'user':
      return { type: 'user', id: principal.userId ?? principal.id };
    case 'api-key':
      return { type: 'api-key', id: principal.id, userId: principal.userId ?? null };
    case 'oauth-client':
      return { type: 'oauth-client', id: principal.id, userId: principal.userId ?? null };
    case 'metrics':
      return { type: 'system', id: 'metrics-token' };
  }
}

/** The audit context of a request: its caller, organisation, id, client address and user agent. */
export function auditContextOf(request: FastifyRequest): AuditContext {
  const userAgent = request.headers['user-agent'];
  return {
    actor: actorOf(request.principal),
    orgId: request.principal?.orgId ?? null,
    requestId: request.id,
    ip: request.ip,
    userAgent: typeof userAgent === 'string' ? userAgent : null,
  };
}

type ActionAudit = Extract<RouteAudit, { action: string }>;

const routeAction = (request: FastifyRequest): ActionAudit | undefined => {
  const audit = request.routeOptions.config.audit;
  return audit && 'action' in audit ? audit : undefined;
};

const param = (request: FastifyRequest, name: string | undefined): string | undefined => {
  const params = request.params as Record<string, unknown> | undefined;
  const value = name ? params?.[name] : undefined;
  return typeof value === 'string' ? value : undefined;
};

function resourceOf(request: FastifyRequest, audit: ActionAudit, result?: unknown) {
  const resultId = result && typeof result === 'object' && typeof (result as { id?: unknown }).id === 'string' ? (result as { id: string }).id : undefined;
  const caller = audit.resource === 'caller' ? (request.principal?.userId ?? null) : undefined;
  const resourceId = caller !== undefined ? caller : (param(request, audit.resourceParam) ?? resultId ?? param(request, 'id') ?? null);
  // An event about an organisation belongs to that organisation (a new one, or another of the caller's).
  if (AUDIT_ACTIONS[audit.action as AuditAction].resource === 'org') return { resourceId, orgId: resourceId };
  return { resourceId, ...(audit.orgParam ? { orgId: param(request, audit.orgParam) ?? null } : {}) };
}

const changedFieldsOf = (body: unknown): string[] =>
  body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body).filter((name) => !NOT_CHANGES.has(name)) : [];

const isRead = (method: string) => method === 'GET' || method === 'HEAD';

/**
 * The HTTP side of the audit trail: what each route declares (`config.audit`) becomes events, so a
 * module audits by declaring, not by calling the recorder in every handler.
 */
export function createHttpAudit(deps: { recorder: Pick<AuditRecorder, 'record' | 'recordNow'>; logger: Pick<Logger, 'error' | 'warn'> }) {
  /** For the write runner: the declared write's event, in the write's transaction. */
  async function recordWrite(tx: Tx, request: FastifyRequest, result: unknown, status: number): Promise<void> {
    const audit = routeAction(request);
    if (!audit) return;
    await deps.recorder.record(tx, auditContextOf(request), {
      action: audit.action as AuditAction,
      ...resourceOf(request, audit, result),
      changed: changedFieldsOf(request.body),
      statusCode: status,
    });
    request.auditRecorded = true;
  }

  /** After the handler, before the response leaves: reads, denials and failures, each durable first. */
  async function recordResponse(request: FastifyRequest, status: number): Promise<void> {
    if (request.is404) return;
    const audit = request.routeOptions.config.audit;
    const action = routeAction(request);
    const denied = status === 401 || status === 403;
    if (audit && 'recordedBy' in audit && !request.accessDenied) return;
    const context = auditContextOf(request);
    if (!action) {
      if (!request.accessDenied && !denied) return;
      await deps.recorder.recordNow(context, {
        action: 'access.denied',
        outcome: 'denied',
        resourceId: `${request.method} ${request.routeOptions.url ?? ''}`,
        statusCode: status,
      });
      return;
    }
    const outcome: AuditOutcome = denied ? 'denied' : status >= 400 ? 'error' : 'success';
    if (outcome === 'success' && !isRead(request.method)) {
      // A write's event went in with the write; a write route that skipped the runner is a bug.
      if (!request.auditRecorded) deps.logger.error({ route: request.routeOptions.url, action: action.action }, 'audited write finished without its audit event');
      return;
    }
    await deps.recorder.recordNow(context, { action: action.action as AuditAction, outcome, ...resourceOf(request, action), statusCode: status });
  }

  /** Records what the response says before it leaves; a sensitive read whose event failed is not served. */
  const recordBeforeSending: onSendHookHandler = (request, reply, payload, done) => {
    const status = reply.statusCode;
    recordResponse(request, status).then(
      () => done(null, payload),
      (error: unknown) => {
        // A sensitive read whose event is not durable is not served; a denial or failure stays what it was.
        if (status < 400 && isRead(request.method)) return done(error as Error);
        deps.logger.warn({ err: (error as Error).message, route: request.routeOptions.url }, 'audit event for a refused or failed request was not recorded');
        done(null, payload);
      },
    );
  };

  function register(app: FastifyInstance) {
    app.addHook('onRoute', (route: RouteOptions) => {
      const audit = route.config?.audit;
      if (!audit) return;
      // A misspelt action fails at start-up (and in the route-table test), not silently at run time.
      if ('action' in audit && !isAuditAction(audit.action)) {
        throw new Error(`route ${String(route.method)} ${route.url} declares unknown audit action ${audit.action}`);
      }
      // Declared routes get the hook on the route itself, so undeclared ones (the hot path) pay nothing.
      // A generated HEAD route copies its GET's options: add the hook once.
      const hooks = route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend];
      if (!hooks.includes(recordBeforeSending)) route.onSend = [...hooks, recordBeforeSending];
    });
    // Undeclared routes record only a refusal; one status comparison for everything else.
    app.addHook('onSend', (request, reply, payload, done) => {
      if ((reply.statusCode !== 401 && reply.statusCode !== 403) || request.routeOptions.config.audit) return done(null, payload);
      recordBeforeSending.call(app, request, reply, payload, done);
    });
  }

  return { recordWrite, register };
}

export type HttpAudit = ReturnType<typeof createHttpAudit>;
