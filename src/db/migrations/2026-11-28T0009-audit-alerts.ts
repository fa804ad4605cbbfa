import { sql, type Kysely } from 'kysely';

/**
 * Analysis of the audit trail (issue 4 item 4).
 *
 * - `audit_analysis_cursors`: how far (by `seq`) each analysis has read the sealed chain. Advanced in
 *   the transaction that stores the batch's alerts, so a crash re-runs the batch and nothing twice.
 * - `audit_alerts`: what the rules raised. Summaries hold ids and counts only. `dedupe_key` (rule and
 *   triggering event) is unique, so a re-run batch inserts nothing new; `group_key` (rule-specific,
 *   hashed) lets a rule stay quiet while an alert for the same account, address or actor is recent.
 * - `audit_alert_deliveries`: the webhook outbox, one row per alert written with it.
 * - `audit_analysis_ip_failures`: failed sign-ins by client address. The address is an AES-GCM
 *   envelope in `audit_events` (random nonce: equal addresses never compare equal), and a keyed
 *   column there would need the request path to compute it; instead the analysis job opens the
 *   envelope and stores a blind index (HMAC under BLIND_INDEX_KEY) here, never the address. Rows
 *   older than the longest window are purged by the job.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit_analysis_cursors')
    .addColumn('name', 'text', (col) => col.primaryKey().check(sql`char_length(name) <= 100`))
    .addColumn('last_seq', 'bigint', (col) => col.notNull())
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('audit_alerts')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('org_id', 'uuid')
    .addColumn('rule', 'text', (col) => col.notNull().check(sql`rule ~ '^[a-z][a-z0-9-]{0,79}$'`))
    .addColumn('severity', 'text', (col) => col.notNull().check(sql`severity in ('low', 'medium', 'high', 'critical')`))
    .addColumn('summary', 'text', (col) => col.notNull().check(sql`char_length(summary) between 1 and 500`))
    .addColumn('group_key', 'text', (col) => col.notNull().check(sql`char_length(group_key) <= 200`))
    .addColumn('dedupe_key', 'text', (col) => col.notNull().unique().check(sql`char_length(dedupe_key) <= 300`))
    .addColumn('triggered_at', 'timestamptz', (col) => col.notNull())
    .addColumn('first_seq', 'bigint', (col) => col.notNull())
    .addColumn('last_seq', 'bigint', (col) => col.notNull())
    .addColumn('event_ids', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('detail', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('acknowledged_at', 'timestamptz')
    .addColumn('acknowledged_by', 'text', (col) => col.check(sql`char_length(acknowledged_by) <= 200`))
    .addColumn('note', 'text', (col) => col.check(sql`char_length(note) <= 1000`))
    .addCheckConstraint('audit_alerts_acknowledged_together', sql`(acknowledged_at IS NULL) = (acknowledged_by IS NULL)`)
    .execute();
  await sql`CREATE INDEX audit_alerts_org ON audit_alerts (org_id, id)`.execute(db);
  await sql`CREATE INDEX audit_alerts_open ON audit_alerts (org_id, id) WHERE acknowledged_at IS NULL`.execute(db);
  await sql`CREATE INDEX audit_alerts_group ON audit_alerts (rule, group_key, triggered_at)`.execute(db);

  await db.schema
    .createTable('audit_alert_deliveries')
    .addColumn('alert_id', 'uuid', (col) => col.primaryKey().references('audit_alerts.id'))
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('pending').check(sql`status in ('pending', 'delivered', 'failed')`))
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_error', 'text', (col) => col.check(sql`char_length(last_error) <= 200`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('delivered_at', 'timestamptz')
    .execute();
  await sql`CREATE INDEX audit_alert_deliveries_pending ON audit_alert_deliveries (next_attempt_at) WHERE status = 'pending'`.execute(db);

  await db.schema
    .createTable('audit_analysis_ip_failures')
    .addColumn('event_id', 'uuid', (col) => col.primaryKey())
    .addColumn('seq', 'bigint', (col) => col.notNull())
    .addColumn('ip_index', 'bytea', (col) => col.notNull())
    .addColumn('occurred_at', 'timestamptz', (col) => col.notNull())
    .execute();
  await sql`CREATE INDEX audit_analysis_ip_failures_ip ON audit_analysis_ip_failures (ip_index, occurred_at)`.execute(db);
  await sql`CREATE INDEX audit_analysis_ip_failures_age ON audit_analysis_ip_failures (occurred_at)`.execute(db);

  // The rules' windowed counts use audit_events indexes created with the table (migration 0008).
}
