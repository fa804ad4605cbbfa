import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponse } from '../../http/route-defaults.js';
import { errors } from '../../platform/errors.js';
import {
  TaxonomyDetailSchema,
  TaxonomyListSchema,
  TaxonomyNodeDetailSchema,
  TaxonomyNodeParams,
  TaxonomyParams,
  TaxonomyQuery,
} from './taxonomies.schemas.js';
import { TAXONOMY_IDS, type TaxonomyService } from './taxonomy.types.js';

const tags = ['taxonomies'];
const OWASP_IDS = TAXONOMY_IDS.filter((id) => id.startsWith('owasp-llm-'));

/**
 * The shipped taxonomies (issue 7 §3). Reference data, the same for every organisation: reading it
 * needs `findings:read` (those who read findings read what they are mapped to) and is not audited.
 */
export const taxonomiesRoutes: FastifyPluginAsyncTypebox<{ taxonomies: TaxonomyService }> = async (app, { taxonomies }) => {
  app.get(
    '/taxonomies',
    {
      config: { access: { permission: 'findings:read' } },
      schema: { tags, summary: 'List the taxonomies (OWASP LLM Top 10 editions, MITRE ATLAS, NIST AI RMF)', response: { 200: TaxonomyListSchema } },
    },
    () => ({ items: [...taxonomies.list()] }),
  );

  app.get(
    '/taxonomies/:taxonomyId',
    {
      config: { access: { permission: 'findings:read' } },
      schema: {
        tags,
        summary: 'A taxonomy with its nodes',
        params: TaxonomyParams,
        querystring: TaxonomyQuery,
        response: { 200: TaxonomyDetailSchema, 404: errorResponse('No such taxonomy.') },
      },
    },
    (request) => {
      const { taxonomyId } = request.params;
      const summary = taxonomies.summary(taxonomyId);
      const nodes = taxonomies.nodes(taxonomyId);
      if (!summary || !nodes) throw errors.notFound('taxonomy');
      const { kind } = request.query;
      return { ...summary, nodes: kind ? nodes.filter((node) => node.kind === kind) : [...nodes] };
    },
  );

  app.get(
    '/taxonomies/:taxonomyId/nodes/:nodeId',
    {
      config: { access: { permission: 'findings:read' } },
      schema: {
        tags,
        summary: 'One node, with its equivalents in the other OWASP editions',
        params: TaxonomyNodeParams,
        response: { 200: TaxonomyNodeDetailSchema, 404: errorResponse('No such taxonomy or node.') },
      },
    },
    (request) => {
      const { taxonomyId, nodeId } = request.params;
      const node = taxonomies.summary(taxonomyId) ? taxonomies.node(`${taxonomyId}:${nodeId}`) : undefined;
      if (!node) throw errors.notFound('taxonomy node');
      const equivalents = OWASP_IDS.filter((id) => id !== taxonomyId).flatMap((id) =>
        taxonomies.translate(node.ref, id).map((link) => ({ ref: link.ref, taxonomyId: id, title: taxonomies.node(link.ref)?.title ?? '', relation: link.relation })),
      );
      return { ...node, taxonomyId, equivalents };
    },
  );
};
