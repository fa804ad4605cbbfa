import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { KEY_NAMES } from '../../src/config/config.schema.js';
import { uniqueName } from './environment.js';

/**
 * Restore targets for the backup tests: an EMPTY instance with the same keys as a source backend's
 * environment (embedded: a new DATA_DIR and the source's key files as variables; server: a new schema).
 */
export async function emptyInstanceLike(sourceEnv: Record<string, string>): Promise<{ env: Record<string, string>; isEmpty: () => Promise<boolean> }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-restore-'));
  if (!sourceEnv.DATABASE_URL) {
    const keys = Object.fromEntries(
      KEY_NAMES.filter((name) => !sourceEnv[name]).map((name) => [name, readFileSync(path.join(sourceEnv.DATA_DIR!, 'keys', name.toLowerCase().replaceAll('_', '-')), 'utf8').trim()]),
    );
    return {
      env: { ...sourceEnv, ...keys, DATA_DIR: dataDir },
      isEmpty: () => Promise.resolve(!existsSync(path.join(dataDir, 'pg')) || readdirSync(path.join(dataDir, 'pg')).length === 0),
    };
  }
  const schema = uniqueName(inject('testSchemaPrefix'));
  const url = new URL(sourceEnv.DATABASE_URL);
  url.searchParams.delete('options');
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`); // dropped with this run's other schemas (global-setup.ts)
  await admin.end();
  const target = new URL(url);
  target.searchParams.set('options', `-c search_path=${schema}`);
  return {
    env: { ...sourceEnv, DATA_DIR: dataDir, DATABASE_URL: target.toString() },
    isEmpty: async () => {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        const result = await client.query<{ n: string }>(`select count(*) as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind in ('r', 'p', 'S', 'v')`, [schema]);
        return Number(result.rows[0]!.n) === 0;
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Every table's row count and content hash, computed independently of the backup code: each row as
 * PostgreSQL prints the whole record, sorted, hashed with md5 (a comparison, not a security control).
 * `except` filters rows of a table out (events recorded by the backup and restore themselves).
 */
export async function tableDigests(db: Kysely<any>, except: Record<string, string> = {}): Promise<Record<string, { rows: number; md5: string }>> { // eslint-disable-line @typescript-eslint/no-explicit-any -- tables are discovered
  return db.transaction().execute(async (tx) => {
    await sql`set local timezone = 'UTC'`.execute(tx);
    const tables = await sql<{ name: string }>`
      select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind = 'r' and c.relname not like 'schema_migrations%' order by 1`.execute(tx);
    const digests: Record<string, { rows: number; md5: string }> = {};
    for (const { name } of tables.rows) {
      const where = except[name] ? sql`where ${sql.raw(except[name])}` : sql``;
      const result = await sql<{ rows: number; md5: string }>`
        select count(*)::int as rows, md5(coalesce(string_agg(x.t, E'\n' order by x.t), '')) as md5
        from (select r::text as t from ${sql.table(name)} r ${where}) x`.execute(tx);
      digests[name] = result.rows[0]!;
    }
    return digests;
  });
}
