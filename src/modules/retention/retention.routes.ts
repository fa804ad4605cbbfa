import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { Page } from '../../http/pagination.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import { auditContextOf } from '../audit/audit.http.js';
import type { LegalHoldsService } from './legal-holds.service.js';
import { LegalHoldSchema, ListQuery, PlaceLegalHoldBody, RetentionPreviewSchema, RetentionRunSchema } from './retention.schemas.js';
import type { RetentionService } from './retention.service.js';

const PERMISSION = 'platform:retention:manage';

export interface RetentionRouteDeps {
  legalHolds: LegalHoldsService;
  retention: RetentionService;
  runWrite: WriteRunner;
}

/** Legal holds and retention runs (issue 9 §4): super-admins only (`platform:retention:manage`). */
export const retentionRoutes: FastifyPluginAsyncTypebox<RetentionRouteDeps> = async (app, { legalHolds, retention, runWrite }) => {
  app.post(
    '/admin/legal-holds',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'legal-hold.placed' } },
      schema: {
        tags: ['admin'],
        summary: 'Place a legal hold on an organisation, or on one scan of it: retention purges nothing it covers',
        body: PlaceLegalHoldBody,
        response: { 201: LegalHoldSchema, 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    (request, reply) => runWrite(request, reply, { status: 201 }, (tx) => legalHolds.place(tx, request.principal!, request.body)),
  );

  app.get(
    '/admin/legal-holds',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'legal-hold.list' } },
      schema: { tags: ['admin'], summary: 'List legal holds, active and released (newest first)', querystring: ListQuery, response: { 200: Page(LegalHoldSchema) } },
    },
    (request) => legalHolds.list(request.query),
  );

  app.delete(
    '/admin/legal-holds/:id',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'legal-hold.released' } },
      schema: {
        tags: ['admin'],
        summary: 'Release a legal hold (the hold stays as a record; the next retention run may purge)',
        params: IdParams,
        response: { 200: LegalHoldSchema, 409: errorResponse('Released already (`legal_hold_released`), or an Idempotency-Key conflict.') },
      },
    },
    (request, reply) => runWrite(request, reply, { status: 200 }, (tx) => legalHolds.release(tx, request.principal!, request.params.id)),
  );

  app.get(
    '/admin/retention/preview',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'retention.preview.read' } },
      schema: { tags: ['admin'], summary: 'Dry run: rows per data class a retention run would remove now (holds applied)', response: { 200: RetentionPreviewSchema } },
    },
    () => retention.preview(),
  );

  app.post(
    '/admin/retention/runs',
    {
      // The run records its own event with its counts (many batches, not one transaction).
      config: { access: { permission: PERMISSION }, audit: { recordedBy: 'service' } },
      schema: {
        tags: ['admin'],
        summary: 'Run retention now (the same code as the daily job); answers the run with its counts',
        response: { 201: RetentionRunSchema },
      },
    },
    async (request, reply) => {
      const principal = request.principal!;
      const run = await retention.run({
        trigger: 'api',
        context: auditContextOf(request),
        actorId: principal.userId ?? (principal.type === 'user' ? principal.id : null),
        signal: new AbortController().signal,
      });
      return reply.code(201).send(run);
    },
  );

  app.get(
    '/admin/retention/runs',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'retention.run.list' } },
      schema: { tags: ['admin'], summary: 'List past retention runs with their counts (newest first)', querystring: ListQuery, response: { 200: Page(RetentionRunSchema) } },
    },
    (request) => retention.listRuns(request.query),
  );
};
