import { sql, type Kysely } from 'kysely';

/**
 * Platform records: idempotency keys (DESIGN §6) and applied policy versions.
 * A stored response may carry personal data, so its body is an encrypted envelope.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('idempotency_records')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('principal', 'text', (col) => col.notNull())
    .addColumn('method', 'text', (col) => col.notNull())
    .addColumn('route', 'text', (col) => col.notNull())
    .addColumn('key', 'text', (col) => col.notNull())
    .addColumn('body_hash', 'bytea', (col) => col.notNull())
    .addColumn('response_status', 'integer', (col) => col.notNull())
    .addColumn('response_body', 'bytea')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .execute();
  await sql`CREATE UNIQUE INDEX idempotency_records_scope ON idempotency_records (principal, method, route, key)`.execute(db);
  await sql`CREATE INDEX idempotency_records_expiry ON idempotency_records (expires_at)`.execute(db);

  await db.schema
    .createTable('policy_versions')
    .addColumn('sequence', 'integer', (col) => col.primaryKey())
    .addColumn('content_hash', 'text', (col) => col.notNull())
    .addColumn('content', 'jsonb', (col) => col.notNull())
    .addColumn('source', 'text', (col) => col.notNull())
    .addColumn('applied_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
}
