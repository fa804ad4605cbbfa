import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Page } from '../../http/pagination.js';
import { errorResponse } from '../../http/route-defaults.js';
import type { AuditQueryService } from './audit-query.service.js';
import {
  AuditEventSchema,
  AuditEventsQuery,
  AuditExportQuery,
  AuditStatsQuery,
  AuditStatsSchema,
  EXPORT_MAX_ROWS,
  MAX_RANGE_DAYS,
} from './audit.schemas.js';

const scopeRefused = errorResponse(
  'Not permitted: no audit permission, or `scope=platform` / `orgId` without `platform:audit:read` (`audit_scope_forbidden`).',
);

/**
 * The audit trail for auditors and admins (issue 4 item 3). Who sees what is decided by the
 * service (scope); every read of the trail is itself an audit event, recorded before the response.
 */
export const auditRoutes: FastifyPluginAsyncTypebox<{ auditQuery: AuditQueryService }> = async (app, { auditQuery }) => {
  app.get(
    '/audit/events',
    {
      config: { access: { permission: ['audit:read', 'platform:audit:read'] }, audit: { action: 'audit.events.read' } },
      schema: {
        tags: ['audit'],
        summary: 'Search the audit trail, newest first',
        description:
          'Filters combine (AND). `action` is exact, or a prefix when it ends with a dot (`auth.`). `from` is inclusive, `to` exclusive. Client address and user agent are personal data, shown to auditors only.',
        querystring: AuditEventsQuery,
        response: { 200: Page(AuditEventSchema), 403: scopeRefused },
      },
    },
    (request) => auditQuery.list(request.principal!, request.query),
  );

  app.get(
    '/audit/export',
    {
      config: { access: { permission: ['audit:export', 'platform:audit:read'] }, audit: { action: 'audit.events.exported' }, stepUp: true },
      schema: {
        tags: ['audit'],
        summary: 'Export the audit trail as JSON Lines or CSV (streamed)',
        description:
          `The same filters as the search, newest first, over at most ${MAX_RANGE_DAYS} days (default: the 30 days before \`to\` or now) and at most ${EXPORT_MAX_ROWS} rows (\`limit\`). ` +
          '`X-Export-Truncated: true` says more events matched than were exported. CSV follows RFC 4180; a cell starting with = + - @ tab or CR gets a leading apostrophe so spreadsheets do not run it as a formula.',
        querystring: AuditExportQuery,
        response: {
          200: {
            description: 'The events, one per line (JSON Lines) or one per row after a header row (CSV), as an attachment.',
            content: { 'application/x-ndjson': { schema: { type: 'string' } }, 'text/csv': { schema: { type: 'string' } } },
          },
          403: scopeRefused,
        },
      },
    },
    async (request, reply) => {
      const exported = await auditQuery.export(request.principal!, request.query);
      reply
        .type(exported.contentType)
        .header('content-disposition', `attachment; filename="${exported.filename}"`)
        .header('x-export-truncated', String(exported.truncated));
      // Fastify's HEAD twin would drain the stream (up to the row cap) only to discard it.
      if (request.method === 'HEAD') {
        exported.stream.destroy();
        return reply.send();
      }
      return reply.send(exported.stream);
    },
  );

  app.get(
    '/audit/stats',
    {
      config: { access: { permission: ['audit:read', 'platform:audit:read'] }, audit: { action: 'audit.stats.read' } },
      schema: {
        tags: ['audit'],
        summary: 'Count audit events by action, outcome, actor type and UTC day',
        description: `Over at most ${MAX_RANGE_DAYS} days (default: the 30 days before \`to\` or now), with the same scope and filters as the search.`,
        querystring: AuditStatsQuery,
        response: { 200: AuditStatsSchema, 403: scopeRefused },
      },
    },
    (request) => auditQuery.stats(request.principal!, request.query),
  );
};
