import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponse } from '../../http/route-defaults.js';
import { Page, PaginationQuery } from '../../http/pagination.js';
import { readPrecondition, setEtag } from '../../http/preconditions.js';
import { IdParams } from '../../http/schemas.js';
import type { WriteRunner } from '../../http/idempotency.js';
import { errors } from '../../platform/errors.js';
import { CreateTargetBody, CredentialsMetadataSchema, TargetSchema, TargetVersionSchema, TestReportSchema, UpdateTargetBody } from './targets.schemas.js';
import type { TargetsService } from './targets.service.js';
import type { TargetSender } from './target-sender.js';

const tags = ['targets'];

export const targetsRoutes: FastifyPluginAsyncTypebox<{ targets: TargetsService; sender: TargetSender; runWrite: WriteRunner }> = async (app, { targets, sender, runWrite }) => {
  app.post(
    '/targets',
    {
      config: { access: { permission: 'targets:write' }, audit: { action: 'target.created' } },
      schema: {
        tags,
        summary: 'Register a target (an AI endpoint or a built-in simulation); credentials are write-only',
        body: CreateTargetBody,
        response: { 201: TargetSchema, 409: errorResponse('A target of this organisation has that name, or an Idempotency-Key conflict.') },
      },
    },
    (request, reply) =>
      runWrite(request, reply, { status: 201 }, async (tx) => {
        const target = await targets.create(tx, request.principal!, request.body);
        reply.header('location', `/api/v1/targets/${target.id}`);
        setEtag(reply, target.version);
        return target;
      }),
  );

  app.get(
    '/targets',
    {
      config: { access: { permission: 'targets:read' } },
      schema: { tags, summary: "List the organisation's targets", querystring: Type.Object(PaginationQuery, { additionalProperties: false }), response: { 200: Page(TargetSchema) } },
    },
    (request) => targets.list(request.principal!, request.query),
  );

  app.get(
    '/targets/:id',
    {
      config: { access: { permission: 'targets:read' } },
      schema: { tags, summary: 'Read a target (its current version; never its credentials)', params: IdParams, response: { 200: TargetSchema } },
    },
    async (request, reply) => {
      const target = await targets.get(request.principal!, request.params.id);
      setEtag(reply, target.version);
      return target;
    },
  );

  app.patch(
    '/targets/:id',
    {
      config: { access: { permission: 'targets:write' }, audit: { action: 'target.updated' } },
      schema: {
        tags,
        summary: 'Change a target: a new immutable version becomes current (If-Match or `version` required)',
        params: IdParams,
        body: UpdateTargetBody,
        response: {
          200: TargetSchema,
          409: errorResponse('Stale `version`, a name taken, or an Idempotency-Key conflict.'),
          412: errorResponse('Stale If-Match.'),
          428: errorResponse('Neither If-Match nor `version` was sent.'),
        },
      },
    },
    (request, reply) =>
      runWrite(request, reply, { status: 200 }, async (tx) => {
        const { version, ...changes } = request.body;
        const target = await targets.update(tx, request.principal!, request.params.id, changes, readPrecondition(request, version));
        setEtag(reply, target.version);
        return target;
      }),
  );

  app.delete(
    '/targets/:id',
    {
      config: { access: { permission: 'targets:write' }, audit: { action: 'target.deleted' } },
      schema: {
        tags,
        summary: 'Delete a target (soft: its versions stay for the scans that used them)',
        params: IdParams,
        response: { 204: Type.Null(), 409: errorResponse('An Idempotency-Key conflict.'), 412: errorResponse('Stale If-Match.') },
      },
    },
    (request, reply) =>
      runWrite(request, reply, { status: 204 }, async (tx) => {
        const precondition = request.headers['if-match'] === undefined ? undefined : readPrecondition(request, undefined);
        await targets.remove(tx, request.principal!, request.params.id, precondition);
        return null;
      }),
  );

  app.get(
    '/targets/:id/versions',
    {
      config: { access: { permission: 'targets:read' } },
      schema: {
        tags,
        summary: "A target's versions, newest first",
        params: IdParams,
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: { 200: Page(TargetVersionSchema) },
      },
    },
    (request) => targets.versions(request.principal!, request.params.id, request.query),
  );

  app.get(
    '/targets/:id/credentials',
    {
      // Secrets metadata: which headers are set, when, by whom. Reading it is audited.
      config: { access: { permission: 'targets:secrets:read-metadata' }, audit: { action: 'target.credentials.read' }, stepUp: true },
      schema: { tags, summary: "Metadata of a target's credentials (never a value)", params: IdParams, response: { 200: CredentialsMetadataSchema } },
    },
    (request) => targets.credentialsMetadata(request.principal!, request.params.id),
  );

  app.post(
    '/targets/:id/test',
    {
      config: { access: { permission: 'targets:write' }, audit: { action: 'target.tested' } },
      schema: {
        tags,
        summary: 'Send one harmless prompt through the limiter and report status, latency and the answer',
        description: 'A target that refuses, fails or is unreachable is a 200 report with `ok: false`.',
        params: IdParams,
        response: { 200: TestReportSchema, 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    async (request, reply) => {
      // The exchange happens before the transaction (no network between BEGIN and COMMIT); the
      // transaction records the audit event of the test.
      const orgId = request.principal?.orgId;
      if (!orgId) throw errors.notFound('target');
      const report = await sender.test(orgId, request.params.id);
      return runWrite(request, reply, { status: 200 }, () => Promise.resolve(report));
    },
  );
};
