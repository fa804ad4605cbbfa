import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { Page } from '../../http/pagination.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import type { ScanControl, ScansService } from './scans.service.js';
import { CreateScanBody, ScanListQuery, ScanSchema, ScanSummarySchema } from './scans.schemas.js';

const CONTROL_AUDIT = { cancel: 'scan.cancelled', pause: 'scan.paused', resume: 'scan.resumed' } as const;
const CONTROL_SUMMARY: Record<ScanControl, string> = {
  cancel: 'Cancel a scan that has not finished (workers stop at their next status check; completed attempts stay)',
  pause: 'Pause a running scan (in-flight cells finish; nothing new starts)',
  resume: 'Resume a paused scan',
};

export const scansRoutes: FastifyPluginAsyncTypebox<{ scans: ScansService; runWrite: WriteRunner }> = async (app, { scans, runWrite }) => {
  app.post(
    '/scans',
    {
      config: { access: { permission: 'scans:create' }, audit: { action: 'scan.created' } },
      schema: {
        tags: ['scans'],
        summary: 'Create a scan: its plan is frozen (hash, target version) and its chunks queued',
        body: CreateScanBody,
        response: { 202: ScanSchema, 404: errorResponse('The target does not exist in this organisation.'), 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    async (request, reply) => {
      // The plan is built before the transaction: reading the target inside it would use a second connection.
      const prepared = await scans.prepare(request.principal!, request.body);
      const scan = (await runWrite(request, reply, { status: 202 }, async (tx) => {
        const created = await scans.create(tx, request.principal!, prepared);
        reply.header('location', `/api/v1/scans/${created.id}`);
        return created;
      })) as { id: string };
      // After COMMIT (outbox): the chunk rows exist even if this enqueue is lost; the reconciler finds them.
      await scans.dispatch(request.principal!, scan.id);
      return scan;
    },
  );

  app.get(
    '/scans',
    {
      config: { access: { permission: 'scans:read' } },
      schema: {
        tags: ['scans'],
        summary: "List the organisation's scans, newest first",
        querystring: ScanListQuery,
        response: { 200: Page(ScanSummarySchema) },
      },
    },
    (request) => scans.list(request.principal!, request.query),
  );

  app.get(
    '/scans/:id',
    {
      config: { access: { permission: 'scans:read' } },
      schema: {
        tags: ['scans'],
        summary: 'A scan: status and reason, plan summary and hash, coverage (verdict counts), timestamps',
        params: IdParams,
        response: { 200: ScanSchema },
      },
    },
    (request) => scans.get(request.principal!, request.params.id),
  );

  for (const action of ['cancel', 'pause', 'resume'] as const) {
    app.post(
      `/scans/:id/${action}`,
      {
        config: { access: { permission: 'scans:control' }, audit: { action: CONTROL_AUDIT[action] } },
        schema: {
          tags: ['scans'],
          summary: CONTROL_SUMMARY[action],
          params: IdParams,
          response: { 200: ScanSummarySchema, 409: errorResponse('The scan’s status does not allow this (e.g. it already finished).') },
        },
      },
      async (request, reply) => {
        const scan = await runWrite(request, reply, { status: 200 }, (tx) => scans.control(tx, request.principal!, request.params.id, action));
        await scans.dispatch(request.principal!, request.params.id);
        return scan;
      },
    );
  }
};
