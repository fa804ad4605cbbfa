import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../http/pagination.js';
import { PROBE_CATEGORIES, type ProbeCatalogue } from './probe-catalogue.js';

const ProbeSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    category: Type.String(),
    prompt: Type.String({ description: 'The attack text sent to the target (before any converter).' }),
    objective: Type.String(),
  },
  { title: 'Probe', additionalProperties: false },
);

const ProbesQuery = Type.Object(
  {
    ...PaginationQuery,
    category: Type.Optional(Type.Union(PROBE_CATEGORIES.map((category) => Type.Literal(category)))),
  },
  { additionalProperties: false },
);

/** GET /probes: the built-in starter set a scan selects from (`probes.ids` / `probes.categories`). */
export const probesRoutes: FastifyPluginAsyncTypebox<{ probes: ProbeCatalogue }> = async (app, { probes }) => {
  app.get(
    '/probes',
    {
      // Shipped, public attack texts: reading them is no sensitive read, so not audited.
      config: { access: { permission: 'datasets:read' } },
      schema: {
        tags: ['probes'],
        summary: 'List the built-in probes (attack prompts) scans can select',
        querystring: ProbesQuery,
        response: { 200: Page(ProbeSchema) },
      },
    },
    (request) => {
      const { limit, cursor, category } = request.query;
      // The cursor is the position in file order: the list is fixed for the life of the process.
      const [after] = decodeCursor(cursor, 1) ?? [];
      const start = typeof after === 'number' ? after + 1 : 0;
      const indexed = probes.all().map((probe, index) => ({ probe, index }));
      const rows = indexed.filter((row) => row.index >= start && (!category || row.probe.category === category)).slice(0, limit + 1);
      return toPage(rows, limit, (row) => [row.index], (row) => ({ ...row.probe }));
    },
  );
};
