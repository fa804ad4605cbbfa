import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponse } from '../../http/route-defaults.js';
import { Page, PaginationQuery } from '../../http/pagination.js';
import { readPrecondition, setEtag } from '../../http/preconditions.js';
import { IdParams } from '../../http/schemas.js';
import type { WriteRunner } from '../../http/idempotency.js';
import { DATASET_LIMITS } from './dataset-parsers.js';
import { CreateDatasetBody, DatasetItemSchema, DatasetSchema, PreviewBody, PreviewResultSchema } from './datasets.schemas.js';
import type { DatasetsService } from './datasets.service.js';

const tags = ['datasets'];

/**
 * The body limit of the two routes that carry a file: 8 MiB of content JSON-escaped (quotes and line
 * breaks double in size) plus the mapping, and no more; every other route keeps the app's 1 MiB.
 */
export const DATASET_BODY_LIMIT_BYTES = 2 * DATASET_LIMITS.contentBytes + 256 * 1024;

const LIMITS_TEXT = `Limits: ${DATASET_LIMITS.contentBytes / 1024 / 1024} MiB of content (413), ${DATASET_LIMITS.records} records (413), ${DATASET_LIMITS.fieldBytes / 1024} KiB per field and ${DATASET_LIMITS.columns} columns (422).`;

export const datasetsRoutes: FastifyPluginAsyncTypebox<{ datasets: DatasetsService; runWrite: WriteRunner }> = async (app, { datasets, runWrite }) => {
  app.post(
    '/datasets/preview',
    {
      bodyLimit: DATASET_BODY_LIMIT_BYTES,
      // A dry run over the caller's own body: nothing is stored or read, so there is no event to record.
      config: { access: { permission: 'datasets:write' } },
      schema: {
        tags,
        summary: 'Dry run of an import: parse and map the content, report counts, problems and the first items; stores nothing',
        description: `CSV (RFC 4180, header row), JSON Lines, or JSON with \`recordsPointer\` naming the array of records (string records become a \`value\` column). ${LIMITS_TEXT}`,
        body: PreviewBody,
        response: { 200: PreviewResultSchema, 413: errorResponse('The content or its record count is over the limit.') },
      },
    },
    (request) => datasets.preview(request.principal!, request.body),
  );

  app.post(
    '/datasets',
    {
      bodyLimit: DATASET_BODY_LIMIT_BYTES,
      config: { access: { permission: 'datasets:write' }, audit: { action: 'dataset.created' } },
      schema: {
        tags,
        summary: 'Import a dataset: every record becomes an item, or nothing is stored',
        description: `The body of a preview plus name, source and licence. Refused (422 \`dataset_has_problems\`) when any record has a problem. ${LIMITS_TEXT}`,
        body: CreateDatasetBody,
        response: {
          201: DatasetSchema,
          409: errorResponse('A dataset of this organisation has that name, or an Idempotency-Key conflict.'),
          413: errorResponse('The content or its record count is over the limit.'),
        },
      },
    },
    (request, reply) => {
      const { name, description, source, licence, ...importBody } = request.body;
      // Parsing and mapping are CPU work: done before the transaction opens.
      const prepared = datasets.prepare(importBody);
      return runWrite(request, reply, { status: 201 }, async (tx) => {
        const dataset = await datasets.create(tx, request.principal!, { name, description, source, licence }, prepared);
        reply.header('location', `/api/v1/datasets/${dataset.id}`);
        setEtag(reply, dataset.version);
        return dataset;
      });
    },
  );

  app.get(
    '/datasets',
    {
      config: { access: { permission: 'datasets:read' } },
      schema: { tags, summary: "List the organisation's datasets (metadata, no items)", querystring: Type.Object(PaginationQuery, { additionalProperties: false }), response: { 200: Page(DatasetSchema) } },
    },
    (request) => datasets.list(request.principal!, request.query),
  );

  app.get(
    '/datasets/:id',
    {
      config: { access: { permission: 'datasets:read' } },
      schema: { tags, summary: 'Read a dataset (metadata, provenance and mapping; no items)', params: IdParams, response: { 200: DatasetSchema } },
    },
    async (request, reply) => {
      const dataset = await datasets.get(request.principal!, request.params.id);
      setEtag(reply, dataset.version);
      return dataset;
    },
  );

  app.get(
    '/datasets/:id/items',
    {
      // Attack content of the organisation: every read is recorded, as attempt reads are.
      config: { access: { permission: 'datasets:read' }, audit: { action: 'dataset.items.read' } },
      schema: {
        tags,
        summary: "A page of a dataset's items (prompts, objectives and unmapped columns), by ordinal",
        params: IdParams,
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: { 200: Page(DatasetItemSchema) },
      },
    },
    (request) => datasets.items(request.principal!, request.params.id, request.query),
  );

  app.delete(
    '/datasets/:id',
    {
      config: { access: { permission: 'datasets:write' }, audit: { action: 'dataset.deleted' } },
      schema: {
        tags,
        summary: 'Delete a dataset (soft: scans that copied its items keep them; new scans cannot select it)',
        params: IdParams,
        response: { 204: Type.Null(), 409: errorResponse('An Idempotency-Key conflict.'), 412: errorResponse('Stale If-Match.') },
      },
    },
    (request, reply) =>
      runWrite(request, reply, { status: 204 }, async (tx) => {
        const precondition = request.headers['if-match'] === undefined ? undefined : readPrecondition(request, undefined);
        await datasets.remove(tx, request.principal!, request.params.id, precondition);
        return null;
      }),
  );
};
