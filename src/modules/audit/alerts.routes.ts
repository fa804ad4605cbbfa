import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { Page } from '../../http/pagination.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import { AcknowledgeAlertBody, AlertSchema, ListAlertsQuery } from './alerts.schemas.js';
import type { AlertsService } from './alerts.service.js';

export interface AlertsRouteDeps {
  alerts: AlertsService;
  runWrite: WriteRunner;
}

/** Audit alerts (issue 4 item 4): raised by the analysis job, listed and acknowledged here. */
export const alertsRoutes: FastifyPluginAsyncTypebox<AlertsRouteDeps> = async (app, { alerts, runWrite }) => {
  app.get(
    '/audit/alerts',
    {
      config: { access: { permission: ['audit:read', 'platform:audit:read'] }, audit: { action: 'audit.alert.list' } },
      schema: {
        tags: ['audit'],
        summary: "List audit alerts: your organisation's, and platform-level ones for platform auditors (newest first)",
        querystring: ListAlertsQuery,
        response: { 200: Page(AlertSchema) },
      },
    },
    (request) => alerts.list(request.principal!, request.query),
  );

  app.post(
    '/audit/alerts/:id/acknowledge',
    {
      config: { access: { permission: ['audit:export', 'platform:audit:read'] }, audit: { action: 'audit.alert.acknowledged' } },
      schema: {
        tags: ['audit'],
        summary: 'Acknowledge an open audit alert, with an optional note',
        params: IdParams,
        body: AcknowledgeAlertBody,
        response: { 200: AlertSchema, 409: errorResponse('The alert was acknowledged already, or an Idempotency-Key conflict.') },
      },
    },
    (request, reply) => runWrite(request, reply, { status: 200 }, (tx) => alerts.acknowledge(tx, request.principal!, request.params.id, request.body.note)),
  );
};
