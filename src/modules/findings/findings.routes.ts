import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { Page, PaginationQuery } from '../../http/pagination.js';
import { readPrecondition, setEtag } from '../../http/preconditions.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import { CommentBody, CommentSchema, EditionQuery, FindingDetailSchema, FindingListQuery, FindingSchema, UpdateFindingBody } from './findings.schemas.js';
import type { FindingsService } from './findings.service.js';

const tags = ['findings'];

/** Findings (issue 7 §4): reads with findings:read, triage with findings:triage; every read and write is audited. */
export const findingsRoutes: FastifyPluginAsyncTypebox<{ findings: FindingsService; runWrite: WriteRunner }> = async (app, { findings, runWrite }) => {
  app.get(
    '/findings',
    {
      config: { access: { permission: 'findings:read' }, audit: { action: 'finding.list' } },
      schema: {
        tags,
        summary: "List the organisation's findings, newest first",
        description: '`taxonomy` takes a ref in any edition (a 2025 ref matches findings mapped to its 2026 equivalent); `edition` chooses the OWASP edition `mappings` are shown in.',
        querystring: FindingListQuery,
        response: { 200: Page(FindingSchema) },
      },
    },
    (request) => findings.list(request.principal!, request.query),
  );

  app.get(
    '/findings/:id',
    {
      config: { access: { permission: 'findings:read' }, audit: { action: 'finding.read' } },
      schema: {
        tags,
        summary: 'Read a finding with its per-scan contributions and representative attempts',
        params: IdParams,
        querystring: EditionQuery,
        response: { 200: FindingDetailSchema },
      },
    },
    async (request, reply) => {
      const finding = await findings.get(request.principal!, request.params.id, request.query.edition);
      setEtag(reply, finding.version);
      return finding;
    },
  );

  app.patch(
    '/findings/:id',
    {
      config: { access: { permission: 'findings:triage' }, audit: { action: 'finding.updated' } },
      schema: {
        tags,
        summary: 'Triage a finding: move its status and/or set its assignee (If-Match or `version` required)',
        params: IdParams,
        body: UpdateFindingBody,
        response: {
          200: FindingSchema,
          409: errorResponse('The lifecycle does not allow this status move, a stale `version`, or an Idempotency-Key conflict.'),
          412: errorResponse('Stale If-Match.'),
          422: errorResponse('The assignee is not a member of the organisation, or the body is not valid.'),
          428: errorResponse('Neither If-Match nor `version` was sent.'),
        },
      },
    },
    (request, reply) =>
      runWrite(request, reply, { status: 200 }, async (tx) => {
        const { version, ...changes } = request.body;
        const finding = await findings.update(tx, request.principal!, request.params.id, changes, readPrecondition(request, version));
        setEtag(reply, finding.version);
        return finding;
      }),
  );

  app.post(
    '/findings/:id/comments',
    {
      config: { access: { permission: 'findings:triage' }, audit: { action: 'finding.commented', resourceParam: 'id' } },
      schema: {
        tags,
        summary: 'Add a triage comment (stored encrypted)',
        params: IdParams,
        body: CommentBody,
        response: { 201: CommentSchema, 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    (request, reply) => runWrite(request, reply, { status: 201 }, (tx) => findings.addComment(tx, request.principal!, request.params.id, request.body.body)),
  );

  app.get(
    '/findings/:id/comments',
    {
      config: { access: { permission: 'findings:read' }, audit: { action: 'finding.comments.read' } },
      schema: {
        tags,
        summary: "A finding's comments, oldest first",
        params: IdParams,
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: { 200: Page(CommentSchema) },
      },
    },
    (request) => findings.comments(request.principal!, request.params.id, request.query),
  );
};
