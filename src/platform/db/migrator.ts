import { Migrator, sql, type DatabaseIntrospector, type Kysely, type MigrationResult, type TableMetadata } from 'kysely';
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
  const schema = rows[0]?.schema ?? 'public';
  return new Migrator({
    db: withIntrospector(db, schemaIntrospector(db, schema)),
    migrationTableSchema: schema,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
}

/**
 * What the migrator asks of the catalogue (does this schema, does this table exist), answered for its
 * own schema by name only. Kysely's introspector reads every column of every table of every schema
 * and resolves each table by name as it goes: a table another session drops meanwhile fails the
 * whole start ("relation ... does not exist"), as it did for test files sharing one database.
 */
function schemaIntrospector(db: Kysely<unknown>, schema: string): DatabaseIntrospector {
  const getTables = async (): Promise<TableMetadata[]> => {
    const { rows } = await sql<{ name: string; kind: string }>`
      select c.relname as name, c.relkind as kind from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema} and c.relkind in ('r', 'p', 'v')`.execute(db);
    return rows.map((row) => ({ name: row.name, schema, isView: row.kind === 'v', columns: [] }));
  };
  return {
    async getSchemas() {
      const { rows } = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace where nspname = ${schema}`.execute(db);
      return rows;
    },
    getTables,
    async getMetadata() {
      return { tables: await getTables() };
    },
  };
}

/** `db` with `introspection` answered by `introspector`; every other member is db's own. */
function withIntrospector(db: Kysely<unknown>, introspector: DatabaseIntrospector): Kysely<unknown> {
  return new Proxy(db, {
    get(target, property) {
      if (property === 'introspection') return introspector;
      const value: unknown = Reflect.get(target, property, target);
      // Kysely's methods use private fields: they must run on the instance, not on the proxy.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
