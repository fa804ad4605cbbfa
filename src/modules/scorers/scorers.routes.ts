import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponse } from '../../http/route-defaults.js';
import { auditContextOf } from '../audit/audit.http.js';
import { PreviewBody, ScoreResultSchema, ScorerListSchema } from './scorers.schemas.js';
import type { ScorerService } from './scorers.service.js';

export const scorersRoutes: FastifyPluginAsyncTypebox<{ scorers: ScorerService }> = async (app, { scorers }) => {
  app.get(
    '/scorers',
    {
      // A catalogue of code, the same for everyone: not a sensitive read.
      config: { access: { permission: 'targets:read' } },
      schema: { tags: ['scorers'], summary: 'List the scorers and the JSON Schema of their parameters', response: { 200: ScorerListSchema } },
    },
    () => scorers.list(),
  );

  app.post(
    '/scorers/preview',
    {
      // Nothing is written; a judge preview (traffic to another target) is audited by the service.
      config: { access: { permission: 'targets:read' }, audit: { recordedBy: 'service' } },
      schema: {
        tags: ['scorers'],
        summary: 'Score a given response with one scorer',
        description:
          'The LLM judge sends the prompt and response to another target of your organisation (404 when there is none with that id). A judge that cannot be reached gives `errored`, an answer that is not the verdict object `inconclusive`.',
        body: PreviewBody,
        response: { 200: ScoreResultSchema, 404: errorResponse('The judge target does not exist in your organisation.') },
      },
    },
    (request) => scorers.preview(request.principal!, request.body, auditContextOf(request)),
  );
};
