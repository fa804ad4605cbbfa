import type { ColumnType } from 'kysely';
import type { CommonColumns } from '../platform/db/common-columns.js';

/** The dataset tables (issue 7 §2): imported attack sets and their items. */

/** An imported dataset: provenance (source, licence), the mapping used and the hash of the exact content. */
export interface DatasetsTable extends CommonColumns {
  orgId: string;
  name: string;
  description: string | null;
  source: string;
  licence: string;
  format: 'csv' | 'jsonl' | 'json';
  mapping: ColumnType<Record<string, unknown>, string, never>;
  defaults: ColumnType<Record<string, unknown>, string, never>;
  contentSha256: string;
  itemCount: number;
}

/** One mapped record of a dataset; written by its import, never updated. */
export interface DatasetItemsTable {
  id: string;
  orgId: string;
  datasetId: string;
  /** 1-based position among the imported items (after the filter). */
  ordinal: number;
  itemKey: string;
  prompt: string;
  objective: string | null;
  category: string;
  taxonomy: ColumnType<string[], string, never>;
  /** The source columns the mapping did not use, kept as strings (null for an empty JSON value). */
  extra: ColumnType<Record<string, string | null>, string, never>;
  createdAt: ColumnType<Date, Date | undefined, never>;
}
