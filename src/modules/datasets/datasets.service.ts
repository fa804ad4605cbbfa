import { createHash } from 'node:crypto';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError, errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Principal } from '../../http/principal.js';
import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import { staleError, type VersionPrecondition } from '../../http/preconditions.js';
import { normaliseName } from '../../http/schemas.js';
import type { TaxonomyService } from '../taxonomies/taxonomy.types.js';
import { parseDataset } from './dataset-parsers.js';
import { checkMapping, describeProblem, mapRecords, type MappingResult, type MappingSpec } from './dataset-mapping.js';
import type { DatasetItemRow, DatasetRow, DatasetsRepo } from './datasets.repo.js';
import type { CreateDatasetBodyValue, PreviewBodyValue } from './datasets.schemas.js';

export const PREVIEW_PROBLEMS = 50;
export const PREVIEW_ITEMS = 20;

/** What the dataset row keeps of the mapping (the request's own shape, so a view can show it back). */
interface StoredMapping {
  columns: MappingSpec['mapping'];
  categoryMap: MappingSpec['categoryMap'] | null;
  recordsPointer: string | null;
}

export const toDatasetView = (row: DatasetRow) => {
  const stored = row.mapping as unknown as StoredMapping;
  const defaults = row.defaults as { category: string; taxonomy: string[]; complexity: 'low' | 'medium' | 'high' };
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    source: row.source,
    licence: row.licence,
    format: row.format,
    mapping: stored.columns,
    categoryMap: stored.categoryMap ?? null,
    recordsPointer: stored.recordsPointer,
    defaults,
    contentSha256: row.contentSha256,
    itemCount: row.itemCount,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    createdBy: row.createdBy,
  };
};

export const toItemView = (row: DatasetItemRow) => ({
  id: row.id,
  ordinal: row.ordinal,
  key: row.itemKey,
  prompt: row.prompt,
  objective: row.objective,
  category: row.category,
  taxonomy: row.taxonomy,
  extra: row.extra,
});

const sha256 = (content: string) => createHash('sha256').update(content, 'utf8').digest('hex');
const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === '23505';

/** A parsed and mapped import, computed before any transaction opens. */
export interface PreparedImport {
  body: PreviewBodyValue;
  result: MappingResult;
  columns: string[];
  contentSha256: string;
}

/**
 * Datasets (issue 7 §2): CSV/JSONL/JSON imported with a column mapping, previewed without writing,
 * stored all-or-nothing with provenance (source, licence, content hash). Org-scoped: another
 * organisation's dataset answers 404.
 */
export function createDatasetsService(deps: { db: Db; datasetsRepo: DatasetsRepo; taxonomy: Pick<TaxonomyService, 'isValidRef'>; clock: Clock }) {
  const { datasetsRepo: repo } = deps;
  const orgOf = (principal: Principal) => {
    if (!principal.orgId) throw errors.notFound('dataset');
    return principal.orgId;
  };
  const actorOf = (principal: Principal) => principal.userId ?? null;

  /** Parses and maps: pure CPU work, kept out of the transaction (DESIGN §5). */
  function prepare(body: PreviewBodyValue): PreparedImport {
    const parsed = parseDataset(body.format, body.content, { recordsPointer: body.recordsPointer });
    const spec: MappingSpec = { mapping: body.mapping, categoryMap: body.categoryMap, defaults: body.defaults };
    checkMapping(spec, parsed.columns, deps.taxonomy);
    return { body, result: mapRecords(parsed, spec), columns: parsed.columns, contentSha256: sha256(body.content) };
  }

  async function load(executor: Db | Tx, orgId: string, id: string) {
    const dataset = await repo.findDataset(executor, orgId, id);
    if (!dataset) throw errors.notFound('dataset');
    return dataset;
  }

  return {
    prepare,

    /** The dry run: what an import of this body would store, and every reason it would be refused. */
    preview(principal: Principal, body: PreviewBodyValue) {
      orgOf(principal);
      const { result, columns, contentSha256 } = prepare(body);
      return {
        format: body.format,
        columns,
        totalRecords: result.totalRecords,
        accepted: result.items.length,
        skipped: result.skipped,
        problemCount: result.problems.length,
        problems: result.problems.slice(0, PREVIEW_PROBLEMS),
        items: result.items.slice(0, PREVIEW_ITEMS),
        contentSha256,
      };
    },

    /** Stores a prepared import in the caller's transaction: the dataset row and every item, or nothing. */
    async create(tx: Tx, principal: Principal, input: Omit<CreateDatasetBodyValue, keyof PreviewBodyValue>, prepared: PreparedImport) {
      const orgId = orgOf(principal);
      const { result, body } = prepared;
      if (result.problems.length > 0) {
        throw new AppError(422, 'dataset_has_problems', {
          detail: `${result.problems.length} record(s) cannot be imported; nothing was stored. The preview lists them.`,
          errors: result.problems.slice(0, PREVIEW_PROBLEMS).map((problem) => ({ in: 'body', pointer: '/content', detail: describeProblem(problem) })),
        });
      }
      if (result.items.length === 0) {
        throw new AppError(422, 'dataset_empty', { detail: 'No record would become an item (the content is empty or the filter keeps none).', errors: [{ in: 'body', pointer: '/content', detail: 'No records.' }] });
      }
      const now = deps.clock.now();
      const id = newId();
      const dataset = await repo
        .insertDataset(
          tx,
          {
            id,
            orgId,
            name: normaliseName(input.name),
            description: input.description === undefined ? null : normaliseName(input.description),
            source: input.source.trim(),
            licence: normaliseName(input.licence),
            format: body.format,
            mapping: { columns: body.mapping, categoryMap: body.categoryMap ?? null, recordsPointer: body.recordsPointer ?? null } satisfies StoredMapping,
            defaults: { category: body.defaults.category, taxonomy: body.defaults.taxonomy ?? [], complexity: body.defaults.complexity ?? 'medium' },
            contentSha256: prepared.contentSha256,
            itemCount: result.items.length,
          },
          actorOf(principal),
          now,
        )
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? errors.conflict('dataset_name_taken', 'Another dataset of this organisation has that name.') : error;
        });
      await repo.insertItems(tx, orgId, id, result.items, now);
      return toDatasetView(dataset);
    },

    async list(principal: Principal, page: PaginationParams) {
      const [afterId] = decodeCursor(page.cursor, 1) ?? [];
      if (afterId !== undefined && typeof afterId !== 'string') throw errors.badRequest('invalid_cursor', 'The cursor is not one this API issued.');
      const rows = await repo.listDatasets(orgOf(principal), page.limit, afterId);
      return toPage(rows, page.limit, (row) => [row.id], toDatasetView);
    },

    async get(principal: Principal, id: string) {
      return toDatasetView(await load(deps.db, orgOf(principal), id));
    },

    async items(principal: Principal, id: string, page: PaginationParams) {
      const orgId = orgOf(principal);
      const dataset = await load(deps.db, orgId, id);
      const [after] = decodeCursor(page.cursor, 1) ?? [];
      if (after !== undefined && typeof after !== 'number') throw errors.badRequest('invalid_cursor', 'The cursor is not one this API issued.');
      const rows = await repo.listItems(orgId, dataset.id, after, page.limit);
      return toPage(rows, page.limit, (row) => [row.ordinal], toItemView);
    },

    /** Soft delete: items stay for the scans whose frozen plans copied them; the dataset leaves every list and selection. */
    async remove(tx: Tx, principal: Principal, id: string, precondition: VersionPrecondition | undefined) {
      const orgId = orgOf(principal);
      const dataset = await load(tx, orgId, id);
      if (precondition && precondition.version !== dataset.version) throw staleError(precondition);
      if (!(await repo.softDelete(tx, orgId, id, dataset.version, actorOf(principal), deps.clock.now()))) {
        throw precondition ? staleError(precondition) : errors.notFound('dataset');
      }
    },
  };
}

export type DatasetsService = ReturnType<typeof createDatasetsService>;
