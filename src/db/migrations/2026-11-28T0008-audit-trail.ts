import { sql, type Kysely } from 'kysely';

/**
 * The audit trail (issue 4, ADR 0007).
 *
 * - `audit_events`: one row per event, inserted unhashed on the request path (no hot chain-head row);
 *   the single sealer job later sets `seq` and `hash` once. Client address and user agent are
 *   envelopes (personal data); failed logins carry the email's blind index in `subject_index`.
 *   A trigger makes the table append-only for every role, the superuser included: no DELETE, no
 *   TRUNCATE, and an UPDATE only when it seals an unsealed row without touching anything else.
 *   (Retention, issue 9, purges sealed segments through one SECURITY DEFINER function.)
 * - `audit_checkpoints`: signed head hashes (Ed25519 with the audit key), append-only as well.
 * - `audit_signing_keys`: public keys by version, so checkpoints signed by a retired key still verify.
 * - `auth_events` goes: its events (sign-in successes, failures, locks, unlocks, password changes)
 *   are audit events now, in the same chain as everything else. It held no data worth moving: no
 *   release ever wrote it (ADR 0007).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('occurred_at', 'timestamptz', (col) => col.notNull())
    .addColumn('actor_type', 'text', (col) => col.notNull().check(sql`actor_type in ('user', 'api-key', 'oauth-client', 'system', 'anonymous')`))
    .addColumn('actor_id', 'text', (col) => col.check(sql`char_length(actor_id) <= 200`))
    .addColumn('actor_user_id', 'uuid')
    .addColumn('org_id', 'uuid')
    .addColumn('action', 'text', (col) => col.notNull().check(sql`action ~ '^[a-z][a-z-]*(\\.[a-z][a-z-]*){1,3}$'`))
    .addColumn('resource_type', 'text', (col) => col.check(sql`char_length(resource_type) <= 60`))
    .addColumn('resource_id', 'text', (col) => col.check(sql`char_length(resource_id) <= 200`))
    .addColumn('subject_index', 'bytea')
    .addColumn('outcome', 'text', (col) => col.notNull().check(sql`outcome in ('success', 'denied', 'error')`))
    .addColumn('status_code', 'smallint')
    .addColumn('request_id', 'text', (col) => col.check(sql`char_length(request_id) <= 128`))
    .addColumn('client_ip', 'bytea')
    .addColumn('user_agent', 'bytea')
    .addColumn('changed_fields', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('detail', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('seq', 'bigint', (col) => col.unique())
    .addColumn('hash', 'bytea')
    .addCheckConstraint('audit_events_sealed_together', sql`(seq IS NULL) = (hash IS NULL)`)
    .execute();
  // The sealer's work list, and the searches of the audit API (ids are time-ordered UUIDv7).
  await sql`CREATE INDEX audit_events_unsealed ON audit_events (id) WHERE seq IS NULL`.execute(db);
  await sql`CREATE INDEX audit_events_org ON audit_events (org_id, id)`.execute(db);
  await sql`CREATE INDEX audit_events_actor ON audit_events (actor_id, id)`.execute(db);
  await sql`CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id, id)`.execute(db);
  // Time-bounded searches and statistics of one organisation, and the analysis rules' windowed counts
  // (failed sign-ins per account, reads per actor).
  await sql`CREATE INDEX audit_events_org_time ON audit_events (org_id, occurred_at)`.execute(db);
  await sql`CREATE INDEX audit_events_subject_time ON audit_events (subject_index, occurred_at) WHERE subject_index IS NOT NULL`.execute(db);
  await sql`CREATE INDEX audit_events_actor_time ON audit_events (actor_id, occurred_at) WHERE actor_id IS NOT NULL`.execute(db);

  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('seq', 'bigint', (col) => col.primaryKey())
    .addColumn('head_hash', 'bytea', (col) => col.notNull())
    .addColumn('key_version', 'integer', (col) => col.notNull())
    .addColumn('signature', 'bytea', (col) => col.notNull())
    .addColumn('signed_at', 'timestamptz', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('audit_signing_keys')
    .addColumn('version', 'integer', (col) => col.primaryKey())
    .addColumn('public_key', 'bytea', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .execute();

  // Sealing is the one update an event ever gets: seq and hash, once, nothing else changed.
  await sql`
    CREATE FUNCTION audit_events_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.seq IS NULL AND NEW.seq IS NOT NULL
         AND (to_jsonb(NEW) - 'seq' - 'hash') = (to_jsonb(OLD) - 'seq' - 'hash') THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'audit events are append-only: only sealing an unsealed event is allowed' USING ERRCODE = '42501';
    END
    $$`.execute(db);
  await sql`
    CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = '42501';
    END
    $$`.execute(db);
  await sql`CREATE TRIGGER audit_events_seal_only BEFORE UPDATE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_seal_only()`.execute(db);
  await sql`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_append_only()`.execute(db);
  for (const table of ['audit_checkpoints', 'audit_signing_keys']) {
    await sql`CREATE TRIGGER ${sql.raw(`${table}_append_only`)} BEFORE UPDATE OR DELETE ON ${sql.table(table)}
      FOR EACH ROW EXECUTE FUNCTION audit_append_only()`.execute(db);
  }
  for (const table of ['audit_events', 'audit_checkpoints', 'audit_signing_keys']) {
    await sql`CREATE TRIGGER ${sql.raw(`${table}_no_truncate`)} BEFORE TRUNCATE ON ${sql.table(table)}
      FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()`.execute(db);
  }

  await db.schema.dropTable('auth_events').execute();
}
