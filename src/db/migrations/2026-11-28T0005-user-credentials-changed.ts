import type { Kysely } from 'kysely';

/**
 * When a user's credentials last changed: access tokens issued before it are refused on their
 * next request (a password change or reset ends every session at once).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('credentials_changed_at', 'timestamptz').execute();
}
