import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../http/pagination.js';
import { Timestamp } from '../../http/schemas.js';
import type { PolicyService } from './policy.service.js';

const PolicyVersionSchema = Type.Object(
  {
    sequence: Type.Integer(),
    contentHash: Type.String({ description: 'SHA-256 of the canonical JSON of the effective policy.' }),
    source: Type.String({ description: 'Where it came from: the policy file path, or "built-in defaults".' }),
    appliedAt: Timestamp(),
    content: Type.Record(Type.String(), Type.Unknown()),
  },
  { title: 'PolicyVersion', additionalProperties: false },
);

/** Admins read the policy in force and the history of applied versions. */
export const policyRoutes: FastifyPluginAsyncTypebox<{ policy: PolicyService }> = async (app, { policy }) => {
  app.get(
    '/policy',
    {
      config: { access: { permission: 'platform:policy:read' } },
      schema: { tags: ['policy'], summary: 'The policy in force', response: { 200: PolicyVersionSchema } },
    },
    () => {
      const applied = policy.applied();
      return {
        sequence: applied.sequence,
        contentHash: applied.contentHash,
        source: applied.source,
        appliedAt: applied.appliedAt.toISOString(),
        content: applied.policy,
      };
    },
  );

  app.get(
    '/policy/versions',
    {
      config: { access: { permission: 'platform:policy:read' } },
      schema: {
        tags: ['policy'],
        summary: 'Every applied policy version, newest first',
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: { 200: Page(PolicyVersionSchema) },
      },
    },
    async (request) => {
      const [before] = decodeCursor(request.query.cursor, 1) ?? [];
      const rows = await policy.versions(request.query.limit + 1, typeof before === 'number' ? before : undefined);
      return toPage(rows, request.query.limit, (row) => [row.sequence], (row) => ({
        sequence: row.sequence,
        contentHash: row.contentHash,
        source: row.source,
        appliedAt: row.appliedAt.toISOString(),
        content: row.content as Record<string, unknown>,
      }));
    },
  );
};
