import { sql, type Kysely } from 'kysely';

/**
 * Key rotation (issue 9 §1, ADR 0012). Attempts and target versions are immutable evidence, yet their
 * envelopes must move to the current key version. The rotation sweep, and only it, sets the
 * transaction-local flag `vutf.key_rotation = 'on'`; with it an UPDATE may change the envelope columns
 * and nothing else (every other column compared as JSON). Without it, or with any other column
 * changed, the triggers refuse as before. DELETE stays as 0013 defined it (retention's evidence purge).
 *
 * `key_versions`: when this database first saw each version of each key kind (added through the API, or
 * found in the configuration at start). JWT_SIGNING_KEYS retirement is judged from it: an old version
 * can go once the newer one has been current for longer than the longest access-token lifetime.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('key_versions')
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('version', 'bigint', (col) => col.notNull())
    .addColumn('first_seen_at', 'timestamptz', (col) => col.notNull())
    .addPrimaryKeyConstraint('key_versions_pk', ['kind', 'version'])
    .execute();
  await sql`
    CREATE OR REPLACE FUNCTION attempts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND current_setting('vutf.evidence_purge', true) = 'on' THEN
        RETURN OLD;
      END IF;
      IF TG_OP = 'UPDATE' AND current_setting('vutf.key_rotation', true) = 'on'
        AND to_jsonb(NEW) - ARRAY['prompt_original', 'prompt_converted', 'request_redacted', 'response', 'scores']
          = to_jsonb(OLD) - ARRAY['prompt_original', 'prompt_converted', 'request_redacted', 'response', 'scores'] THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'attempts are append-only evidence: % refused', TG_OP USING ERRCODE = '42501';
    END
    $$`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION target_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND current_setting('vutf.key_rotation', true) = 'on'
        AND to_jsonb(NEW) - ARRAY['config', 'credentials'] = to_jsonb(OLD) - ARRAY['config', 'credentials'] THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'target versions are immutable: % refused', TG_OP USING ERRCODE = '42501';
    END
    $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('key_versions').execute();
  await sql`
    CREATE OR REPLACE FUNCTION attempts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND current_setting('vutf.evidence_purge', true) = 'on' THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION 'attempts are append-only evidence: % refused', TG_OP USING ERRCODE = '42501';
    END
    $$`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION target_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'target versions are immutable: % refused', TG_OP USING ERRCODE = '42501';
    END
    $$`.execute(db);
}
