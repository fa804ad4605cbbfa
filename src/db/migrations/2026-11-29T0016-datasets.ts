import { sql, type Kysely } from 'kysely';
import { withCommonColumns } from '../../platform/db/common-columns.js';

/**
 * Datasets (issue 7 §2): imported CSV/JSONL/JSON attack sets. A dataset records where it came from
 * (source, licence), how its columns were mapped and the SHA-256 of the exact content imported; its
 * items are written once in the import's transaction and never updated (a re-import is a new dataset).
 * The size checks mirror the import limits so a bug in the service cannot store more than promised.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withCommonColumns(db.schema.createTable('datasets'))
    .addColumn('org_id', 'uuid', (col) => col.notNull().references('organisations.id'))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`char_length(name) between 1 and 200`))
    .addColumn('description', 'text', (col) => col.check(sql`char_length(description) <= 2000`))
    .addColumn('source', 'text', (col) => col.notNull().check(sql`char_length(source) between 1 and 1000`))
    .addColumn('licence', 'text', (col) => col.notNull().check(sql`char_length(licence) between 1 and 200`))
    .addColumn('format', 'text', (col) => col.notNull().check(sql`format in ('csv', 'jsonl', 'json')`))
    .addColumn('mapping', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(mapping) = 'object'`))
    .addColumn('defaults', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(defaults) = 'object'`))
    .addColumn('content_sha256', 'text', (col) => col.notNull().check(sql`content_sha256 ~ '^[0-9a-f]{64}$'`))
    .addColumn('item_count', 'integer', (col) => col.notNull().check(sql`item_count between 0 and 50000`))
    .execute();
  await sql`CREATE UNIQUE INDEX datasets_org_name_live ON datasets (org_id, name) WHERE deleted_at IS NULL`.execute(db);
  await sql`CREATE INDEX datasets_org ON datasets (org_id, id) WHERE deleted_at IS NULL`.execute(db);

  await db.schema
    .createTable('dataset_items')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('org_id', 'uuid', (col) => col.notNull().references('organisations.id'))
    .addColumn('dataset_id', 'uuid', (col) => col.notNull().references('datasets.id'))
    .addColumn('ordinal', 'integer', (col) => col.notNull().check(sql`ordinal >= 1`))
    .addColumn('item_key', 'text', (col) => col.notNull().check(sql`char_length(item_key) between 1 and 200`))
    .addColumn('prompt', 'text', (col) => col.notNull().check(sql`octet_length(prompt) between 1 and 65536`))
    .addColumn('objective', 'text', (col) => col.check(sql`octet_length(objective) <= 65536`))
    .addColumn('category', 'text', (col) => col.notNull())
    .addColumn('taxonomy', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(taxonomy) = 'array'`))
    .addColumn('extra', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(extra) = 'object' AND octet_length(extra::text) <= 262144`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE UNIQUE INDEX dataset_items_ordinal ON dataset_items (dataset_id, ordinal)`.execute(db);
  await sql`CREATE INDEX dataset_items_org ON dataset_items (org_id, dataset_id)`.execute(db);
}
