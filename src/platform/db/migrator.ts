import { Migrator, sql, type Kysely, type MigrationResult } from 'kysely';
import { migrations } from '../../db/migrations/index.js';

export class MigrationError extends Error {
  constructor(
    readonly migrationName: string | undefined,
    cause: unknown,
  ) {
    super(`migration ${migrationName ?? '(unknown)'} failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'MigrationError';
  }
}

/**
 * Applies every pending migration, forward only. Kysely's migrator takes a lock row so two
 * processes starting at once apply each migration once; each migration runs in a transaction.
 */
export async function migrateToLatest(db: Kysely<unknown>): Promise<MigrationResult[]> {
  const { error, results = [] } = await (await migratorOf(db)).migrateToLatest();
  if (error) throw new MigrationError(results.find((result) => result.status === 'Error')?.migrationName, error);
  return results;
}

/** Applies this build's migrations up to and including `last` (restore: the schema an archive's rows fit). */
export async function migrateTo(db: Kysely<unknown>, last: string): Promise<void> {
  const { error, results = [] } = await (await migratorOf(db)).migrateTo(last);
  if (error) throw new MigrationError(results.find((result) => result.status === 'Error')?.migrationName, error);
}

async function migratorOf(db: Kysely<unknown>): Promise<Migrator> {
  // Pin the bookkeeping tables to the connection's schema: Kysely would otherwise take another
  // schema's schema_migrations on the search path for its own (several schemas, one database).
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  return new Migrator({
    db,
    migrationTableSchema: rows[0]?.schema ?? 'public',
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
}
