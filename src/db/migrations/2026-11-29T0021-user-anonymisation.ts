import { sql, type Kysely } from 'kysely';

/**
 * When retention anonymised a soft-deleted user (issue 9 §4, ADR 0013): the account row stays (audit
 * events, findings and memberships name it) but its email and name were replaced by placeholders.
 * The mark makes the run idempotent: each user is anonymised once. The partial index serves the run's
 * "deleted long enough ago and not yet anonymised" predicate.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('anonymised_at', 'timestamptz').execute();
  await sql`CREATE INDEX users_awaiting_anonymisation ON users (deleted_at) WHERE deleted_at IS NOT NULL AND anonymised_at IS NULL`.execute(db);
}
