import { sql, type Kysely } from 'kysely';

/**
 * Login failure counters for account lockout (issue 3 item 4, DESIGN §9 "Login timing"). Keyed by the
 * blind index of the submitted email, never by user id, so an unknown email gets exactly the same writes
 * as a known one; no email column, so nothing here reveals an address. One mutable row per index: the
 * lockout service updates it with a single atomic upsert.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('login_attempts')
    .addColumn('email_index', 'bytea', (col) => col.primaryKey())
    .addColumn('failures', 'integer', (col) => col.notNull().check(sql`failures >= 0`))
    .addColumn('window_started_at', 'timestamptz')
    .addColumn('locked_until', 'timestamptz')
    .addColumn('lock_count', 'integer', (col) => col.notNull().defaultTo(0).check(sql`lock_count >= 0`))
    .addColumn('last_failure_at', 'timestamptz', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  // For the later purge of quiet rows (a spray of unknown emails must not grow the table forever).
  await sql`CREATE INDEX login_attempts_last_failure ON login_attempts (last_failure_at)`.execute(db);
}
