import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/platform/db/database.js';
import { migrateToLatest } from '../../src/platform/db/migrator.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A migrated embedded database, dumped once; each test file starts its own copy from it. */
    pgliteSnapshotPath: string;
    /** Prefix of every PostgreSQL schema this run creates (server mode), dropped together at the end. */
    testSchemaPrefix: string;
  }
}

/** The application role of DESIGN §9 (no superuser): audit immutability tests connect as it. */
export const APP_ROLE = { name: 'vutf_app', password: 'vutf-app-test-only' } as const;

/** Creates the application role once per PostgreSQL cluster (concurrent runs may race: a duplicate is fine). */
async function ensureAppRole(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl || !process.env.REDIS_URL) return;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE.name}') THEN
        CREATE ROLE ${APP_ROLE.name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${APP_ROLE.password}';
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$`);
  } finally {
    await client.end();
  }
}

/**
 * Schemas are dropped after the whole run, in one sweep over this run's prefix, not by each test file.
 * (Migrations once failed when another file dropped a schema or table meanwhile; the migrator now
 * reads only its own schema: src/platform/db/migrator.ts.)
 */
async function dropSchemas(prefix: string): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl || !process.env.REDIS_URL) return;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>('select nspname as name from pg_namespace where starts_with(nspname, $1)', [`${prefix}_`]);
    for (const { name } of rows) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Runs once per `vitest run`: migrating PGlite takes seconds (initdb), loading a dump well under
 * one, so every test file starts from this snapshot (DESIGN §3).
 */
export default async function setup(project: TestProject) {
  const workDir = mkdtempSync(path.join(tmpdir(), 'vutf-snapshot-'));
  const database = await openDatabase({
    mode: 'embedded',
    dataDir: path.join(workDir, 'data'),
    databaseUrl: undefined,
    poolMax: 1,
    statementTimeoutMs: 60_000,
    breaker: { run: (fn) => fn() },
    logger: { warn: () => undefined },
  });
  const snapshotPath = path.join(workDir, 'migrated.tar.gz');
  try {
    await migrateToLatest(database.db as never);
    const dump = await database.dumpDataDir!();
    writeFileSync(snapshotPath, Buffer.from(await dump.arrayBuffer()));
  } finally {
    await database.close();
  }
  await ensureAppRole();
  project.provide('pgliteSnapshotPath', snapshotPath);
  const schemaPrefix = `t${randomBytes(4).toString('hex')}`;
  project.provide('testSchemaPrefix', schemaPrefix);
  return async () => {
    rmSync(workDir, { recursive: true, force: true });
    await dropSchemas(schemaPrefix);
  };
}
