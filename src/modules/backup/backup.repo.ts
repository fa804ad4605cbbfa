import { sql, type Kysely, type RawBuilder } from 'kysely';

/** Any handle on the service's schema: the root db, or a transaction. */
export type Executor = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- tables are discovered, not typed

/** A column as dumped: its name and SQL type (format_type), which restores cast the text back to. */
export interface ColumnInfo {
  name: string;
  type: string;
  /** The sequence behind a serial/identity column, reset after a restore. */
  sequence: string | null;
  /** GENERATED ALWAYS AS IDENTITY: an insert needs OVERRIDING SYSTEM VALUE. */
  identityAlways: boolean;
}

export interface TableInfo {
  name: string;
  columns: ColumnInfo[];
  primaryKey: string[];
}

/** Kysely's own bookkeeping: the archive lists migrations instead, and a restore runs them. */
const BOOKKEEPING = new Set(['schema_migrations', 'schema_migrations_lock']);
/** A type name from the catalogue, checked before it is spliced into a cast. */
const SAFE_TYPE = /^[a-z0-9_ (),[\]]+$/;

/**
 * The SQL of backup and restore: the catalogue of the connection's schema, keyset reads of every
 * column as text (exact in both directions: bytea as hex, timestamptz with its offset, jsonb, bigint,
 * numeric and arrays as PostgreSQL prints them) and typed batch inserts.
 */
export function createBackupRepo() {
  const castOf = (type: string): RawBuilder<unknown> => {
    if (!SAFE_TYPE.test(type)) throw new Error(`column type ${type} cannot be dumped`);
    return sql.raw(type);
  };

  return {
    /** Fixes the text forms for this transaction, so a dump reads the same on any server or session. */
    async pinTextForms(db: Executor): Promise<void> {
      for (const setting of ["TimeZone = 'UTC'", "DateStyle = 'ISO, YMD'", "IntervalStyle = 'postgres'", "bytea_output = 'hex'", 'extra_float_digits = 1']) {
        await sql`SET LOCAL ${sql.raw(setting)}`.execute(db);
      }
    },

    /** Ordinary tables of the current schema, with columns and primary keys, parents before children. */
    async tables(db: Executor): Promise<TableInfo[]> {
      const columns = await sql<{ table: string; column: string; type: string; sequence: string | null; identity: string }>`
        select c.relname as "table", a.attname as "column", format_type(a.atttypid, a.atttypmod) as "type",
               pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname) as "sequence", a.attidentity as "identity"
        from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid
        where n.nspname = current_schema() and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
        order by c.relname, a.attnum`.execute(db);
      const keys = await sql<{ table: string; column: string }>`
        select c.relname as "table", a.attname as "column"
        from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
        cross join lateral unnest(k.conkey) with ordinality as u(attnum, position)
        join pg_attribute a on a.attrelid = c.oid and a.attnum = u.attnum
        where n.nspname = current_schema() and k.contype = 'p' order by c.relname, u.position`.execute(db);
      const references = await sql<{ child: string; parent: string }>`
        select distinct c.relname as "child", p.relname as "parent"
        from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_class p on p.oid = k.confrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and k.contype = 'f' and c.oid <> p.oid`.execute(db);

      const byName = new Map<string, TableInfo>();
      for (const row of columns.rows) {
        if (BOOKKEEPING.has(row.table)) continue;
        const table = byName.get(row.table) ?? { name: row.table, columns: [], primaryKey: [] };
        table.columns.push({ name: row.column, type: row.type, sequence: row.sequence, identityAlways: row.identity === 'a' });
        byName.set(row.table, table);
      }
      for (const row of keys.rows) byName.get(row.table)?.primaryKey.push(row.column);
      for (const table of byName.values()) {
        // Keyset batches need a key: every table of the schema has one (DESIGN §5).
        if (table.primaryKey.length === 0) throw new Error(`table ${table.name} has no primary key and cannot be dumped in batches`);
      }
      return foreignKeyOrder([...byName.values()], references.rows);
    },

    /** One keyset batch: every column as text, ordered by the primary key, after `after` (its key as text). */
    async readBatch(db: Executor, table: TableInfo, after: Array<string | null> | null, limit: number): Promise<Array<Array<string | null>>> {
      // Positional aliases: the camel-case plugin would rename column names, and the order is what matters.
      const select = sql.join(table.columns.map((column, i) => sql`${sql.ref(column.name)}::text as ${sql.raw(`c${i}`)}`));
      const keyColumns = table.primaryKey.map((name) => table.columns.find((column) => column.name === name)!);
      const keyRefs = sql.join(keyColumns.map((column) => sql.ref(column.name)));
      const where = after
        ? sql`where (${keyRefs}) > (${sql.join(keyColumns.map((column, i) => sql`${after[i]}::text::${castOf(column.type)}`))})`
        : sql``;
      const result = await sql<Record<string, string | null>>`select ${select} from ${sql.table(table.name)} ${where} order by ${keyRefs} limit ${limit}`.execute(db);
      return result.rows.map((row) => table.columns.map((_, i) => row[`c${i}`] ?? null));
    },

    /**
     * Inserts rows given as text, cast back to each column's type. Parameters are text (`$n::text::type`):
     * PGlite would otherwise expect a JS value of the column's type (a Uint8Array for bytea).
     */
    async insertBatch(db: Executor, table: TableInfo, rows: ReadonlyArray<ReadonlyArray<string | null>>): Promise<void> {
      if (rows.length === 0) return;
      const casts = table.columns.map((column) => castOf(column.type));
      const values = sql.join(rows.map((row) => sql`(${sql.join(row.map((value, i) => sql`${value}::text::${casts[i]!}`))})`));
      const overriding = table.columns.some((column) => column.identityAlways) ? sql`overriding system value` : sql``;
      await sql`insert into ${sql.table(table.name)} (${sql.join(table.columns.map((column) => sql.ref(column.name)))}) ${overriding} values ${values}`.execute(db);
    },

    /**
     * Makes every foreign key of the schema deferred for this transaction (some form cycles), so rows
     * load in any order and are checked at `checkForeignKeys`. Returns what to put back.
     */
    async deferForeignKeys(db: Executor): Promise<Array<{ table: string; constraint: string }>> {
      const result = await sql<{ table: string; constraint: string }>`
        select c.relname as "table", k.conname as "constraint" from pg_constraint k
        join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and k.contype = 'f' and not k.condeferrable order by 1, 2`.execute(db);
      for (const { table, constraint } of result.rows) {
        await sql`alter table ${sql.table(table)} alter constraint ${sql.id(constraint)} deferrable initially deferred`.execute(db);
      }
      return result.rows;
    },

    /** Checks every deferred foreign key now, then makes them not deferrable again (as the migrations made them). */
    async checkForeignKeys(db: Executor, altered: ReadonlyArray<{ table: string; constraint: string }>): Promise<void> {
      await sql`set constraints all immediate`.execute(db);
      for (const { table, constraint } of altered) {
        await sql`alter table ${sql.table(table)} alter constraint ${sql.id(constraint)} not deferrable`.execute(db);
      }
    },

    /** Moves every serial/identity sequence past the restored rows. */
    async resetSequences(db: Executor, table: TableInfo): Promise<void> {
      for (const column of table.columns) {
        if (!column.sequence) continue;
        await sql`select setval(${column.sequence}::regclass, coalesce((select max(${sql.ref(column.name)}) from ${sql.table(table.name)}), 0) + 1, false)`.execute(db);
      }
    },

    /** Names of the ordinary tables in the current schema (emptiness check of a restore target). */
    async tableNames(db: Executor): Promise<string[]> {
      const result = await sql<{ name: string }>`
        select c.relname as "name" from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and c.relkind in ('r', 'p') order by 1`.execute(db);
      return result.rows.map((row) => row.name);
    },

    /** Clean-up of a failed restore into an empty schema: every table and function the migrations made. */
    async dropEverything(db: Executor): Promise<void> {
      for (const name of await this.tableNames(db)) await sql`drop table if exists ${sql.table(name)} cascade`.execute(db);
      const functions = await sql<{ signature: string }>`
        select p.oid::regprocedure::text as "signature" from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = current_schema()`.execute(db);
      for (const { signature } of functions.rows) await sql`drop function if exists ${sql.raw(signature)} cascade`.execute(db);
    },

    /** Applied migrations, in order. */
    async appliedMigrations(db: Executor): Promise<string[]> {
      const result = await sql<{ name: string }>`select name from schema_migrations order by name`.execute(db);
      return result.rows.map((row) => row.name);
    },
  };
}

export type BackupRepo = ReturnType<typeof createBackupRepo>;

/** Parents before children where the foreign keys allow it (Kahn's algorithm, by name for a stable order). */
function foreignKeyOrder(tables: TableInfo[], references: ReadonlyArray<{ child: string; parent: string }>): TableInfo[] {
  const names = new Set(tables.map((table) => table.name));
  const parents = new Map(tables.map((table) => [table.name, new Set<string>()]));
  for (const { child, parent } of references) if (names.has(child) && names.has(parent)) parents.get(child)!.add(parent);
  const ordered: TableInfo[] = [];
  const done = new Set<string>();
  const remaining = [...tables].sort((a, b) => a.name.localeCompare(b.name));
  while (remaining.length > 0) {
    const ready = remaining.findIndex((table) => [...parents.get(table.name)!].every((parent) => done.has(parent)));
    // A cycle (targets <-> target_versions) has no first table: take the next by name; the restore
    // defers foreign-key checks to its commit, so the order is for readability, not correctness.
    const [next] = remaining.splice(ready < 0 ? 0 : ready, 1);
    ordered.push(next!);
    done.add(next!.name);
  }
  return ordered;
}
