import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { newRowColumns } from '../../platform/db/common-columns.js';
import { newId } from '../../platform/ids.js';
import type { DatasetFormat } from './dataset-parsers.js';
import type { MappedItem } from './dataset-mapping.js';

/** Rows per INSERT of items: bounded statements (DESIGN §5), far below PostgreSQL's parameter limit. */
export const ITEM_BATCH_ROWS = 500;

const DATASET_COLUMNS = [
  'id',
  'orgId',
  'name',
  'description',
  'source',
  'licence',
  'format',
  'mapping',
  'defaults',
  'contentSha256',
  'itemCount',
  'version',
  'createdAt',
  'updatedAt',
  'createdBy',
] as const;
const ITEM_COLUMNS = ['id', 'datasetId', 'ordinal', 'itemKey', 'prompt', 'objective', 'category', 'taxonomy', 'extra'] as const;

export interface NewDataset {
  id: string;
  orgId: string;
  name: string;
  description: string | null;
  source: string;
  licence: string;
  format: DatasetFormat;
  mapping: Record<string, unknown>;
  defaults: Record<string, unknown>;
  contentSha256: string;
  itemCount: number;
}

/** Datasets and their items: SQL only (rules are in datasets.service.ts). */
export function createDatasetsRepo(deps: { db: Db }) {
  const live = (executor: Db | Tx, orgId: string) =>
    executor.selectFrom('datasets').select(DATASET_COLUMNS).where('orgId', '=', orgId).where('deletedAt', 'is', null);

  return {
    async insertDataset(tx: Tx, values: NewDataset, actorId: string | null, now: Date) {
      return tx
        .insertInto('datasets')
        .values({ ...newRowColumns(values.id, actorId, now), ...values, mapping: JSON.stringify(values.mapping), defaults: JSON.stringify(values.defaults) })
        .returning(DATASET_COLUMNS)
        .executeTakeFirstOrThrow();
    },

    /** Every item, in batches of ITEM_BATCH_ROWS inside the caller's transaction. */
    async insertItems(tx: Tx, orgId: string, datasetId: string, items: readonly MappedItem[], now: Date) {
      for (let start = 0; start < items.length; start += ITEM_BATCH_ROWS) {
        const rows = items.slice(start, start + ITEM_BATCH_ROWS).map((item) => ({
          id: newId(),
          orgId,
          datasetId,
          ordinal: item.ordinal,
          itemKey: item.key,
          prompt: item.prompt,
          objective: item.objective,
          category: item.category,
          taxonomy: JSON.stringify(item.taxonomy),
          extra: JSON.stringify(item.extra),
          createdAt: now,
        }));
        await tx.insertInto('datasetItems').values(rows).execute();
      }
    },

    async softDelete(tx: Tx, orgId: string, id: string, expectedVersion: number, actorId: string | null, now: Date): Promise<boolean> {
      const row = await tx
        .updateTable('datasets')
        .set((eb) => ({ deletedAt: now, deletedBy: actorId, updatedAt: now, updatedBy: actorId, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('orgId', '=', orgId)
        .where('version', '=', expectedVersion)
        .where('deletedAt', 'is', null)
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    /** A live dataset of the organisation; undefined for another org's, a deleted or an unknown one. */
    async findDataset(executor: Db | Tx, orgId: string, id: string) {
      return live(executor, orgId).where('id', '=', id).executeTakeFirst();
    },

    /** Live datasets of the organisation among `ids`. */
    async findDatasets(orgId: string, ids: readonly string[]) {
      if (ids.length === 0) return [];
      return live(deps.db, orgId).where('id', 'in', ids).execute();
    },

    /** Keyset page by id (UUIDv7 is time-ordered); limit + 1 rows to know whether there is more. */
    async listDatasets(orgId: string, limit: number, afterId: string | undefined) {
      let query = live(deps.db, orgId);
      if (afterId) query = query.where('id', '>', afterId);
      return query.orderBy('id').limit(limit + 1).execute();
    },

    /** Items of one dataset by ordinal; `limit` undefined: all of them. */
    async listItems(orgId: string, datasetId: string, afterOrdinal: number | undefined, limit: number | undefined) {
      let query = deps.db.selectFrom('datasetItems').select(ITEM_COLUMNS).where('orgId', '=', orgId).where('datasetId', '=', datasetId);
      if (afterOrdinal !== undefined) query = query.where('ordinal', '>', afterOrdinal);
      query = query.orderBy('ordinal');
      return (limit === undefined ? query : query.limit(limit + 1)).execute();
    },
  };
}

export type DatasetsRepo = ReturnType<typeof createDatasetsRepo>;
export type DatasetRow = NonNullable<Awaited<ReturnType<DatasetsRepo['findDataset']>>>;
export type DatasetItemRow = Awaited<ReturnType<DatasetsRepo['listItems']>>[number];
