import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Page } from '../../http/pagination.js';
import { Uuid } from '../../http/schemas.js';
import { RAW_CONTENT_PERMISSION } from '../auth/permissions.js';
import { AttemptParams, AttemptSchema, AttemptsListQuery, EvidenceSchema } from './attempts.schemas.js';
import type { AttemptsService } from './attempts.service.js';

const ScanParams = Type.Object({ id: Uuid('The scan.') }, { additionalProperties: false });

/** Attempts of a scan (issue 6 §4): metadata with attempts:read, raw content only with the raw-content grant. */
export const attemptsRoutes: FastifyPluginAsyncTypebox<{ attempts: AttemptsService }> = async (app, { attempts }) => {
  app.get(
    '/scans/:id/attempts',
    {
      // Evidence metadata (verdicts, rationales, hashes) of attack traffic: every read is recorded.
      config: { access: { permission: 'attempts:read' }, audit: { action: 'attempt.list' } },
      schema: {
        tags: ['scans'],
        summary: "List a scan's attempts in plan-cell order (metadata only: no prompt or response content)",
        params: ScanParams,
        querystring: AttemptsListQuery,
        response: { 200: Page(AttemptSchema) },
      },
    },
    (request) => attempts.list(request.principal!, request.params.id, request.query),
  );

  app.get(
    '/scans/:id/attempts/:attemptId',
    {
      config: { access: { permission: 'attempts:read' }, audit: { action: 'attempt.read', resourceParam: 'attemptId' } },
      schema: {
        tags: ['scans'],
        summary: 'Read one attempt (metadata only)',
        params: AttemptParams,
        response: { 200: AttemptSchema },
      },
    },
    (request) => attempts.get(request.principal!, request.params.id, request.params.attemptId),
  );

  app.get(
    '/scans/:id/attempts/:attemptId/evidence',
    {
      config: { access: { permission: RAW_CONTENT_PERMISSION }, audit: { action: 'evidence.read', resourceParam: 'attemptId' } },
      schema: {
        tags: ['scans'],
        summary: 'Read the raw evidence of one attempt: prompts, the redacted request and the response',
        description: 'Needs the raw-content grant (held by no role: given to a membership on purpose) as well as attempts:read.',
        params: AttemptParams,
        response: { 200: EvidenceSchema },
      },
    },
    (request) => attempts.evidence(request.principal!, request.params.id, request.params.attemptId),
  );
};
