import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Page, PaginationQuery } from '../../http/pagination.js';
import { TAXONOMY_REF_PATTERN } from '../taxonomies/taxonomy.types.js';
import { PROBE_CATEGORIES, PROBE_ID_PATTERN } from './probe-contract.js';
import type { ProbesService } from './probes.service.js';

const tags = ['probes'];

const Step = Type.Object({ id: Type.String(), params: Type.Optional(Type.Unknown()) }, { additionalProperties: false });

const ProbeSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    category: Type.String(),
    family: Type.String({ description: 'Variants of one attack share a family; findings deduplicate per family.' }),
    goal: Type.String({ description: 'What a successful attack achieves (the judge rubric, the finding objective).' }),
    prompt: Type.String({ description: 'The attack text sent to the target (before any converter).' }),
    taxonomy: Type.Array(Type.String(), { description: 'Taxonomy refs (OWASP LLM 2026, MITRE ATLAS, NIST AI RMF).' }),
    complexity: Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')], { description: 'Exploit complexity (severity policy).' }),
    impact: Type.String(),
    tags: Type.Array(Type.String()),
    defaultScorers: Type.Array(Step, { description: 'Scorers used when a scan names none (ids from GET /api/v1/scorers).' }),
    defaultConverters: Type.Array(Step, { description: 'Converter chain used when a scan names no chains (ids from GET /api/v1/converters).' }),
    version: Type.String({ description: 'The library version this probe belongs to.' }),
    isDefault: Type.Boolean({ description: 'In the default set a scan runs when it selects no probes.' }),
  },
  { title: 'Probe', additionalProperties: false },
);

const ProbesQuery = Type.Object(
  {
    ...PaginationQuery,
    category: Type.Optional(Type.Union(PROBE_CATEGORIES.map((category) => Type.Literal(category)))),
    taxonomy: Type.Optional(Type.String({ pattern: TAXONOMY_REF_PATTERN, description: 'A taxonomy ref; an OWASP ref of any edition matches its equivalents; an ATLAS tactic or technique also matches the nodes under it.' })),
    family: Type.Optional(Type.String({ pattern: PROBE_ID_PATTERN })),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
    isDefault: Type.Optional(Type.Boolean({ description: 'Only the default set (true) or only the others (false).' })),
  },
  { additionalProperties: false },
);

/**
 * GET /probes and /probes/{id}: the current built-in library a scan selects from. Shipped, public
 * attack texts (the same for every organisation): reading them is no sensitive read, so not audited.
 */
export const probesRoutes: FastifyPluginAsyncTypebox<{ probes: ProbesService }> = async (app, { probes }) => {
  app.get(
    '/probes',
    {
      config: { access: { permission: 'datasets:read' } },
      schema: {
        tags,
        summary: 'List the built-in probes (attack prompts) scans can select',
        querystring: ProbesQuery,
        response: { 200: Page(ProbeSchema) },
      },
    },
    (request) => probes.list(request.query),
  );

  app.get(
    '/probes/:id',
    {
      config: { access: { permission: 'datasets:read' } },
      schema: {
        tags,
        summary: 'Read one built-in probe of the current library version',
        params: Type.Object({ id: Type.String({ pattern: PROBE_ID_PATTERN }) }, { additionalProperties: false }),
        response: { 200: ProbeSchema },
      },
    },
    (request) => probes.get(request.params.id),
  );
};
