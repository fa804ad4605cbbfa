import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CSRF_HEADER } from '../../http/csrf.js';
import type { WriteRunner } from '../../http/idempotency.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import { AppError } from '../../platform/errors.js';
import type { BrowserSessionService } from './browser-sessions.service.js';
import { ORG_SESSIONS_PERMISSION, PLATFORM_SESSIONS_PERMISSION, type SessionAdminService } from './session-admin.service.js';
import { CsrfTokenSchema, RevokeAllQuery, RevokedCountSchema, SessionListSchema } from './sessions.schemas.js';

export interface SessionsRouteDeps {
  browserSessions: BrowserSessionService;
  sessionAdmin: SessionAdminService;
  runWrite: WriteRunner;
}

const notABrowserSession = () =>
  new AppError(400, 'not_a_browser_session', { detail: 'This request is not made with a session cookie; bearer-token and API-key requests need no CSRF token.' });

/**
 * Browser sessions of the caller (list, end one, end all) and of a user (administrators), and the
 * CSRF token. A session is ended after the audit event commits (the store is not part of the
 * transaction: no network call between BEGIN and COMMIT); a retry ends it again harmlessly.
 */
export const sessionsRoutes: FastifyPluginAsyncTypebox<SessionsRouteDeps> = async (app, { browserSessions, sessionAdmin, runWrite }) => {
  app.get(
    '/auth/csrf',
    {
      config: { access: { permission: 'self:read' } },
      schema: {
        tags: ['auth'],
        summary: 'The CSRF token of the session cookie (also sent as the X-CSRF-Token response header)',
        response: { 200: CsrfTokenSchema, 400: errorResponse('Not a cookie session (`not_a_browser_session`).') },
      },
    },
    (request, reply) => {
      const session = request.browserSession;
      if (!session) throw notABrowserSession();
      reply.header(CSRF_HEADER, session.csrfToken);
      return { csrfToken: session.csrfToken };
    },
  );

  app.get(
    '/auth/sessions',
    {
      // The list shows client addresses (personal data): reading it is audited.
      config: { access: { permission: 'self:read' }, audit: { action: 'session.list' } },
      schema: { tags: ['auth'], summary: 'Your browser sessions: device, address, last activity, and which is this one', response: { 200: SessionListSchema } },
    },
    async (request) => ({ items: await browserSessions.list(request.principal!.userId!, request.browserSession?.id ?? null), nextCursor: null }),
  );

  app.delete(
    '/auth/sessions/:id',
    {
      config: { access: { permission: 'self:read' }, audit: { action: 'session.revoked' } },
      schema: {
        tags: ['auth'],
        summary: 'End one of your browser sessions (this one too: its cookie is cleared)',
        params: IdParams,
        response: { 204: Type.Null(), 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    async (request, reply) => {
      const userId = request.principal!.userId!;
      await browserSessions.requireOwn(userId, request.params.id);
      await runWrite(request, reply, { status: 204 }, () => Promise.resolve(null));
      await browserSessions.endById(request.params.id);
      if (request.params.id === request.browserSession?.id) request.clearSessionCookie = true;
      return null;
    },
  );

  app.delete(
    '/auth/sessions',
    {
      config: { access: { permission: 'self:read' }, audit: { action: 'session.revoked-all', resource: 'caller' } },
      schema: {
        tags: ['auth'],
        summary: 'End all your browser sessions but this one (`scope=others`, the default) or all of them (`scope=all`)',
        querystring: RevokeAllQuery,
        response: { 200: RevokedCountSchema, 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    async (request, reply) => {
      const current = request.browserSession?.id;
      const keep = request.query.scope === 'others' ? current : undefined;
      await runWrite(request, reply, { status: 200 }, () => Promise.resolve(null));
      const revoked = await browserSessions.endAllForUser(request.principal!.userId!, keep);
      if (current && !keep) request.clearSessionCookie = true;
      return { revoked };
    },
  );

  app.delete(
    '/users/:id/sessions',
    {
      config: { access: { permission: [PLATFORM_SESSIONS_PERMISSION, ORG_SESSIONS_PERMISSION] }, audit: { action: 'user.sessions.revoked' } },
      schema: {
        tags: ['users'],
        summary: 'End every session of a user: browser sessions and token logins (platform admins: anyone; organisation admins: members)',
        params: IdParams,
        response: { 204: Type.Null(), 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    async (request, reply) => {
      await runWrite(request, reply, { status: 204 }, async (tx) => {
        await sessionAdmin.revokeForUser(tx, request.principal!, request.params.id);
        return null;
      });
      await sessionAdmin.settle(request.params.id);
      if (request.params.id === request.principal!.userId && request.browserSession) request.clearSessionCookie = true;
      return null;
    },
  );
};
