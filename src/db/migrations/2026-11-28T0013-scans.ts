import { sql, type Kysely } from 'kysely';
import { withCommonColumns } from '../../platform/db/common-columns.js';

/**
 * Scans (issue 6). A scan is a frozen plan (encrypted: inline prompts are attack content) run against
 * one target version; its cells are cut into chunks, and the chunk rows are the outbox the queue is fed
 * from (a lost enqueue is found again by the reconciler). Attempts are append-only evidence, one per plan
 * cell (unique), with prompts, request and response as AES-GCM envelopes and SHA-256 of the exact bytes.
 * Scan events are the ordered log Server-Sent Events resume from (`Last-Event-ID`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withCommonColumns(db.schema.createTable('scans'))
    .addColumn('org_id', 'uuid', (col) => col.notNull().references('organisations.id'))
    .addColumn('target_id', 'uuid', (col) => col.notNull().references('targets.id'))
    .addColumn('target_version_id', 'uuid', (col) => col.notNull().references('target_versions.id'))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`char_length(name) between 1 and 200`))
    .addColumn('status', 'text', (col) =>
      col.notNull().check(sql`status in ('queued', 'running', 'paused', 'completed', 'cancelled', 'failed', 'partial')`),
    )
    .addColumn('status_reason', 'text', (col) => col.check(sql`char_length(status_reason) <= 500`))
    .addColumn('plan', 'bytea', (col) => col.notNull())
    .addColumn('plan_hash', 'text', (col) => col.notNull().check(sql`plan_hash ~ '^[0-9a-f]{64}$'`))
    .addColumn('seed', 'integer', (col) => col.notNull().check(sql`seed >= 0`))
    .addColumn('cells_total', 'integer', (col) => col.notNull().check(sql`cells_total >= 1`))
    .addColumn('chunk_count', 'integer', (col) => col.notNull().check(sql`chunk_count >= 1`))
    .addColumn('budget_max_requests', 'integer', (col) => col.check(sql`budget_max_requests >= 1`))
    .addColumn('budget_max_wall_seconds', 'integer', (col) => col.check(sql`budget_max_wall_seconds >= 1`))
    .addColumn('requests_used', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('attempts_done', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('succeeded', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('resisted', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('errored', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('inconclusive', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await sql`CREATE INDEX scans_org ON scans (org_id, id) WHERE deleted_at IS NULL`.execute(db);
  await sql`CREATE INDEX scans_active ON scans (status) WHERE status IN ('queued', 'running')`.execute(db);

  await db.schema
    .createTable('scan_chunks')
    .addColumn('scan_id', 'uuid', (col) => col.notNull().references('scans.id'))
    .addColumn('chunk_index', 'integer', (col) => col.notNull().check(sql`chunk_index >= 0`))
    .addColumn('org_id', 'uuid', (col) => col.notNull())
    .addColumn('cell_start', 'integer', (col) => col.notNull())
    .addColumn('cell_end', 'integer', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('pending').check(sql`status in ('pending', 'done')`))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'timestamptz')
    .addColumn('runs', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('scan_chunks_pk', ['scan_id', 'chunk_index'])
    .addCheckConstraint('scan_chunks_cells', sql`cell_start >= 0 AND cell_end > cell_start`)
    .execute();
  await sql`CREATE INDEX scan_chunks_pending ON scan_chunks (scan_id) WHERE status = 'pending'`.execute(db);

  await db.schema
    .createTable('attempts')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('org_id', 'uuid', (col) => col.notNull())
    .addColumn('scan_id', 'uuid', (col) => col.notNull().references('scans.id'))
    .addColumn('cell_index', 'integer', (col) => col.notNull().check(sql`cell_index >= 0`))
    .addColumn('probe_id', 'text', (col) => col.notNull())
    .addColumn('chain_index', 'integer', (col) => col.notNull())
    .addColumn('sample_index', 'integer', (col) => col.notNull())
    .addColumn('converter_lineage', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(converter_lineage) = 'array'`))
    .addColumn('prompt_original', 'bytea', (col) => col.notNull())
    .addColumn('prompt_converted', 'bytea', (col) => col.notNull())
    .addColumn('prompt_sha256', 'bytea', (col) => col.notNull().check(sql`octet_length(prompt_sha256) = 32`))
    .addColumn('prompt_bytes', 'integer', (col) => col.notNull())
    .addColumn('prompt_truncated', 'boolean', (col) => col.notNull())
    .addColumn('request_redacted', 'bytea', (col) => col.notNull())
    .addColumn('response', 'bytea')
    .addColumn('response_sha256', 'bytea', (col) => col.check(sql`octet_length(response_sha256) = 32`))
    .addColumn('response_bytes', 'integer')
    .addColumn('response_truncated', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('status_code', 'integer')
    .addColumn('latency_ms', 'integer', (col) => col.notNull())
    .addColumn('retries', 'integer', (col) => col.notNull().check(sql`retries >= 0`))
    .addColumn('error_code', 'text', (col) => col.check(sql`char_length(error_code) <= 100`))
    .addColumn('scores', 'bytea', (col) => col.notNull())
    .addColumn('verdict', 'text', (col) => col.notNull().check(sql`verdict in ('succeeded', 'resisted', 'errored', 'inconclusive')`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  // Exactly one attempt per plan cell: a chunk that runs twice cannot store a cell twice.
  await sql`CREATE UNIQUE INDEX attempts_cell ON attempts (scan_id, cell_index)`.execute(db);
  await sql`CREATE INDEX attempts_org_scan ON attempts (org_id, scan_id, id)`.execute(db);
  // Evidence is append-only; retention (issue 9) purges through a session flag only its own function sets.
  await sql`
    CREATE FUNCTION attempts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND current_setting('vutf.evidence_purge', true) = 'on' THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION 'attempts are append-only evidence: % refused', TG_OP USING ERRCODE = '42501';
    END
    $$`.execute(db);
  await sql`CREATE TRIGGER attempts_append_only BEFORE UPDATE OR DELETE ON attempts FOR EACH ROW EXECUTE FUNCTION attempts_append_only()`.execute(db);

  await db.schema
    .createTable('scan_events')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('scan_id', 'uuid', (col) => col.notNull().references('scans.id'))
    .addColumn('org_id', 'uuid', (col) => col.notNull())
    .addColumn('type', 'text', (col) => col.notNull().check(sql`char_length(type) between 1 and 50`))
    .addColumn('data', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(data) = 'object'`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE INDEX scan_events_scan ON scan_events (scan_id, id)`.execute(db);
}
