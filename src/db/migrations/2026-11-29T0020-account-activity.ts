import type { Kysely } from 'kysely';

/**
 * When an administrator last re-enabled an account (issue 9 §5, NIST AC-2(3)): it counts as activity,
 * so the daily inactive-accounts job does not disable a just re-enabled account again before its
 * owner had the chance to sign in. Logins and refreshes already leave their own timestamps.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('reactivated_at', 'timestamptz').execute();
}
