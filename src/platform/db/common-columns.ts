import { sql, type ColumnType, type CreateTableBuilder, type Generated } from 'kysely';

/**
 * The common columns of every mutable table (DESIGN §5), declared once: the migration helper,
 * the row type, and the values a new row starts with. Append-only tables (audit events,
 * attempts) do not use them.
 */
export interface CommonColumns {
  /** UUIDv7 generated in the application, known before insert. */
  id: string;
  createdAt: ColumnType<Date, Date | undefined, never>;
  updatedAt: ColumnType<Date, Date | undefined, Date>;
  createdBy: ColumnType<string | null, string | null | undefined, never>;
  updatedBy: string | null;
  /** Optimistic-locking counter: every update must name the version it read. */
  version: Generated<number>;
  deletedAt: Date | null;
  deletedBy: string | null;
}

/** Adds the common columns to a table in a migration (snake_case, as stored). */
export function withCommonColumns<N extends string>(builder: CreateTableBuilder<N, never>): CreateTableBuilder<N, never> {
  return builder
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'uuid')
    .addColumn('updated_by', 'uuid')
    .addColumn('version', 'integer', (col) => col.notNull().defaultTo(1).check(sql`version >= 1`))
    .addColumn('deleted_at', 'timestamptz')
    .addColumn('deleted_by', 'uuid');
}

/** The columns a repository sets on insert: id, timestamps and actor. */
export function newRowColumns(id: string, actorId: string | null, now: Date) {
  return { id, createdAt: now, updatedAt: now, createdBy: actorId, updatedBy: actorId };
}
