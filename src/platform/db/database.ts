import { existsSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { CamelCasePlugin, Kysely, PostgresDialect, sql, type Dialect, type Driver } from 'kysely';
import pg from 'pg';
import type { Database } from '../../db/schema.js';
import type { Logger } from '../logger.js';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js';
import { PGliteDialect } from './pglite-dialect.js';
import { ResilientDriver, type Breaker } from './resilient-driver.js';

export type Db = Kysely<Database>;

/** An open database with its lifecycle; `db` is the only handle repositories ever see. */
export interface DatabaseHandle {
  readonly db: Db;
  readonly kind: 'pglite' | 'postgres';
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Embedded only: a gzip tarball of the data directory (snapshots, backup). */
  dumpDataDir?(): Promise<Blob>;
}

export interface DatabaseOptions {
  mode: 'embedded' | 'server';
  dataDir: string;
  databaseUrl: string | undefined;
  poolMax: number;
  statementTimeoutMs: number;
  /** Waiting for a pooled connection (server) or the single session (embedded) fails after this. */
  acquireTimeoutMs?: number;
  breaker: Breaker;
  logger: Pick<Logger, 'warn'>;
  /** Start an embedded database from a dump (restore, test snapshots) when its directory is new. */
  loadDataDir?: Blob;
}

const BYTEA_OID = 17;
const INT8_OID = 20;

// bytea as Buffer and int8 as number in both adapters, so repositories see one shape.
const parseBytea = (text: string) => Buffer.from(text.slice(2), 'hex');
const parseInt8 = (text: string) => Number(text);

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.mode === 'embedded' ? openEmbedded(options) : openServer(options);
}

async function openEmbedded(options: DatabaseOptions): Promise<DatabaseHandle> {
  const lock: DataDirLock = acquireDataDirLock(options.dataDir);
  let pglite: PGlite;
  try {
    const pgDir = path.join(options.dataDir, 'pg');
    // A dump seeds only a new directory; an existing database is never overwritten.
    const seed = options.loadDataDir && !existsSync(path.join(pgDir, 'PG_VERSION')) ? { loadDataDir: options.loadDataDir } : {};
    pglite = new PGlite(pgDir, { parsers: { [BYTEA_OID]: parseBytea, [INT8_OID]: parseInt8 }, ...seed });
    await pglite.waitReady;
    await pglite.exec(`SET statement_timeout = ${Math.trunc(options.statementTimeoutMs)}`);
  } catch (error) {
    lock.release();
    throw error;
  }
  const dialect = withBreaker(new PGliteDialect({ pglite, acquireTimeoutMs: options.acquireTimeoutMs ?? 5000 }), options.breaker);
  const db = new Kysely<Database>({ dialect, plugins: [new CamelCasePlugin()] });
  return {
    db,
    kind: 'pglite',
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    dumpDataDir: () => pglite.dumpDataDir('gzip'),
    close: async () => {
      await db.destroy();
      // Without close() a process that opened a data dir hangs at exit (DESIGN §3).
      if (!pglite.closed) await pglite.close();
      lock.release();
    },
  };
}

function openServer(options: DatabaseOptions): Promise<DatabaseHandle> {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.poolMax,
    // pg waits forever for a pooled connection unless told otherwise (DESIGN §9).
    connectionTimeoutMillis: options.acquireTimeoutMs ?? 1000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs,
    query_timeout: options.statementTimeoutMs + 1000,
    idle_in_transaction_session_timeout: Math.max(options.statementTimeoutMs * 3, 30_000),
    application_name: 'violentutf-api',
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (oid === INT8_OID) return parseInt8;
        return pg.types.getTypeParser(oid, format) as (text: string) => unknown;
      }) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its server emits on the pool; unhandled, it would crash the process.
  pool.on('error', (error) => options.logger.warn({ err: error.message }, 'idle PostgreSQL connection failed'));
  const dialect = withBreaker(new PostgresDialect({ pool }), options.breaker);
  const db = new Kysely<Database>({ dialect, plugins: [new CamelCasePlugin()] });
  return Promise.resolve({
    db,
    kind: 'postgres',
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: async () => {
      await db.destroy();
    },
  });
}

function withBreaker(dialect: Dialect, breaker: Breaker): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: (): Driver => new ResilientDriver(dialect.createDriver(), breaker),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}
