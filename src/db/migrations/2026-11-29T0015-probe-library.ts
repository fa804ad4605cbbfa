import { sql, type Kysely } from 'kysely';

/**
 * The built-in probe library (issue 7 §1): every seeded version of data/probes/library/ is kept (plans
 * froze their probes' content anyway, and an older process may still list its own version), keyed by
 * (id, version). Taxonomy refs, tags and the default converters/scorers are jsonb: `?|` ("contains any
 * of") is the taxonomy filter and works the same on PGlite and PostgreSQL 15, backed by a GIN index.
 * One row per seeded version records its content hash, so the same version with other content is refused.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('probe_library_versions')
    .addColumn('version', 'text', (col) => col.primaryKey().check(sql`version ~ '^[0-9]{4}\\.[0-9]{1,2}\\.[0-9]{1,3}$'`))
    .addColumn('content_hash', 'text', (col) => col.notNull().check(sql`content_hash ~ '^[0-9a-f]{64}$'`))
    .addColumn('probe_count', 'integer', (col) => col.notNull().check(sql`probe_count >= 1`))
    .addColumn('seeded_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('is_current', 'boolean', (col) => col.notNull().defaultTo(false))
    .execute();
  // At most one current version.
  await sql`CREATE UNIQUE INDEX probe_library_versions_current ON probe_library_versions (is_current) WHERE is_current`.execute(db);

  await db.schema
    .createTable('probe_library')
    .addColumn('id', 'text', (col) => col.notNull().check(sql`id ~ '^[a-z0-9][a-z0-9.-]{0,99}$'`))
    .addColumn('version', 'text', (col) => col.notNull().references('probe_library_versions.version'))
    .addColumn('position', 'integer', (col) => col.notNull().check(sql`position >= 0`))
    .addColumn('content_hash', 'text', (col) => col.notNull().check(sql`content_hash ~ '^[0-9a-f]{64}$'`))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`char_length(name) between 1 and 200`))
    .addColumn('category', 'text', (col) => col.notNull().check(sql`char_length(category) between 1 and 64`))
    .addColumn('family', 'text', (col) => col.notNull().check(sql`char_length(family) between 1 and 100`))
    .addColumn('goal', 'text', (col) => col.notNull().check(sql`char_length(goal) between 1 and 1000`))
    .addColumn('prompt', 'text', (col) => col.notNull().check(sql`char_length(prompt) between 1 and 16384`))
    .addColumn('default_converters', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(default_converters) = 'array'`))
    .addColumn('default_scorers', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(default_scorers) = 'array'`))
    .addColumn('taxonomy', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(taxonomy) = 'array'`))
    .addColumn('complexity', 'text', (col) => col.notNull().check(sql`complexity in ('low', 'medium', 'high')`))
    .addColumn('impact', 'text', (col) => col.notNull().check(sql`char_length(impact) between 1 and 500`))
    .addColumn('tags', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(tags) = 'array'`))
    .addColumn('is_default', 'boolean', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('probe_library_pk', ['id', 'version'])
    .addUniqueConstraint('probe_library_position', ['version', 'position'])
    .execute();
  await sql`CREATE INDEX probe_library_category ON probe_library (version, category, position)`.execute(db);
  await sql`CREATE INDEX probe_library_taxonomy ON probe_library USING gin (taxonomy)`.execute(db);
}
