import { sql, type Kysely } from 'kysely';
import { withCommonColumns } from '../../platform/db/common-columns.js';

/**
 * Targets (issue 5 §1): an organisation's AI endpoints. A target row names the target and points at
 * its current version; every change inserts a new, immutable version row (a scan records the version
 * it used, so evidence stays tied to the exact configuration). A version's configuration (URLs,
 * templates, system prompts, canaries) and its credentials (API keys, secret header values) are
 * AES-GCM envelopes (bytea); the credential metadata (header names, when, by whom, a keyed short
 * fingerprint) and the rate-limit policy stay in clear.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withCommonColumns(db.schema.createTable('targets'))
    .addColumn('org_id', 'uuid', (col) => col.notNull().references('organisations.id'))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`char_length(name) between 1 and 200`))
    .addColumn('description', 'text', (col) => col.check(sql`char_length(description) <= 2000`))
    .addColumn('kind', 'text', (col) =>
      col.notNull().check(sql`kind in ('openai-chat', 'http', 'sim:echo', 'sim:refuse', 'sim:leaky', 'sim:flaky', 'sim:slow')`),
    )
    .addColumn('current_version_id', 'uuid', (col) => col.notNull())
    .execute();
  await sql`CREATE UNIQUE INDEX targets_org_name_live ON targets (org_id, name) WHERE deleted_at IS NULL`.execute(db);
  await sql`CREATE INDEX targets_org ON targets (org_id, id) WHERE deleted_at IS NULL`.execute(db);

  await db.schema
    .createTable('target_versions')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('org_id', 'uuid', (col) => col.notNull().references('organisations.id'))
    .addColumn('target_id', 'uuid', (col) => col.notNull().references('targets.id'))
    .addColumn('number', 'integer', (col) => col.notNull().check(sql`number >= 1`))
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('config', 'bytea', (col) => col.notNull())
    .addColumn('limits', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(limits) = 'object'`))
    .addColumn('credentials', 'bytea')
    .addColumn('credential_meta', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`).check(sql`jsonb_typeof(credential_meta) = 'array'`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'uuid')
    .execute();
  await sql`CREATE UNIQUE INDEX target_versions_number ON target_versions (target_id, number)`.execute(db);
  // The target row is inserted first in the same transaction; the check waits for COMMIT.
  await sql`ALTER TABLE targets ADD CONSTRAINT targets_current_version_fk FOREIGN KEY (current_version_id)
    REFERENCES target_versions (id) DEFERRABLE INITIALLY DEFERRED`.execute(db);
  // A version is evidence of what a scan talked to: never rewritten.
  await sql`
    CREATE FUNCTION target_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'target versions are immutable: % refused', TG_OP USING ERRCODE = '42501';
    END
    $$`.execute(db);
  await sql`CREATE TRIGGER target_versions_immutable BEFORE UPDATE ON target_versions FOR EACH ROW EXECUTE FUNCTION target_versions_immutable()`.execute(db);
}
