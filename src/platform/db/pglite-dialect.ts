import type { PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { createSessionMutex } from './session-mutex.js';

/**
 * Our own Kysely dialect for PGlite (DESIGN §3): one connection object over PGlite's single
 * session, handed out under a FIFO mutex so transactions are serialised, with affected-row
 * counts reported (UPDATE/DELETE results drive optimistic locking).
 */
export interface PGliteDialectOptions {
  pglite: PGlite;
  /** How long a caller waits for the session before DatabaseBusyError. */
  acquireTimeoutMs: number;
}

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly pglite: PGlite) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters], { rowMode: 'object' });
    const command = result.command?.toUpperCase();
    const changes = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
    return {
      rows: result.rows,
      ...(changes ? { numAffectedRows: BigInt(result.rowCount ?? result.affectedRows ?? 0) } : {}),
    };
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on the embedded database; page with a cursor instead');
  }
}

class PGliteDriver implements Driver {
  private readonly mutex;
  private readonly connection: PGliteConnection;

  constructor(private readonly options: PGliteDialectOptions) {
    this.mutex = createSessionMutex(options.acquireTimeoutMs);
    this.connection = new PGliteConnection(options.pglite);
  }

  async init(): Promise<void> {
    await this.options.pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.mutex.acquire();
    return this.connection;
  }

  // Transaction control takes PGlite's simple-query path (`exec`): half the cost of a parsed, described
  // `query`, on every write. The caller holds the session mutex, so these run on the right session.
  async beginTransaction(_connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const isolation = settings.isolationLevel ? ` ISOLATION LEVEL ${settings.isolationLevel.toUpperCase()}` : '';
    await this.options.pglite.exec(`BEGIN${isolation}`);
  }

  async commitTransaction(): Promise<void> {
    await this.options.pglite.exec('COMMIT');
  }

  async rollbackTransaction(): Promise<void> {
    await this.options.pglite.exec('ROLLBACK');
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`SAVEPOINT ${quoteIdent(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`ROLLBACK TO SAVEPOINT ${quoteIdent(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`RELEASE SAVEPOINT ${quoteIdent(name)}`));
  }

  releaseConnection(): Promise<void> {
    this.mutex.release();
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    // The owner of the PGlite instance closes it (it also holds the data-dir lock).
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

export class PGliteDialect implements Dialect {
  constructor(private readonly options: PGliteDialectOptions) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.options);
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}
