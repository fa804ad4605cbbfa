import { pathToFileURL } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { loadConfig } from '../config/config.js';
import { openDatabase } from '../platform/db/database.js';
import { migrateToLatest } from '../platform/db/migrator.js';
import { createLogger } from '../platform/logger.js';
import { reportStartupFailure } from '../platform/process-lifecycle.js';
import { createConverterService } from '../modules/converters/converters.service.js';
import { seedShippedLibrary } from '../modules/probes/probe-seed.js';
import { unavailableJudgeTransport } from '../modules/scorers/judge.js';
import { createScorerService } from '../modules/scorers/scorers.service.js';
import { loadTaxonomyService } from '../modules/taxonomies/taxonomies.service.js';

/** Audit tables: the application may read and append, and on audit_events set seq and hash (sealing). */
const AUDIT_TABLES = new Set(['audit_events', 'audit_checkpoints', 'audit_signing_keys', 'audit_purges']);
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The application role of DESIGN §9 (`DATABASE_APP_ROLE`): USAGE on the current schema; SELECT, INSERT,
 * UPDATE, DELETE on ordinary tables; on audit tables only SELECT and INSERT, plus UPDATE (seq, hash)
 * on audit_events. The triggers already refuse other changes to every role; without the grants a
 * compromised application role cannot even disable them (only the owner can), so the service should
 * connect as this role and migrations run as the owner. Idempotent: re-run after each migration.
 */
export async function grantAppRole(db: Kysely<unknown>, role: string): Promise<void> {
  if (!ROLE_NAME.test(role)) throw new Error('DATABASE_APP_ROLE must be a plain lower-case role name');
  const { rows } = await sql<{ name: string; schema: string }>`select table_name as name, table_schema as schema from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db);
  const grantee = sql.id(role);
  const schema = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  await sql`grant usage on schema ${sql.id(schema.rows[0]!.schema)} to ${grantee}`.execute(db);
  for (const { name, schema: owner } of rows) {
    const table = sql.id(owner, name);
    await sql`revoke all on ${table} from ${grantee}`.execute(db);
    if (!AUDIT_TABLES.has(name)) await sql`grant select, insert, update, delete on ${table} to ${grantee}`.execute(db);
    else await sql`grant select, insert on ${table} to ${grantee}`.execute(db);
  }
  if (rows.some((row) => row.name === 'audit_events')) await sql`grant update (seq, hash) on audit_events to ${grantee}`.execute(db);
  await sql`grant usage, select on all sequences in schema ${sql.id(schema.rows[0]!.schema)} to ${grantee}`.execute(db);
}

/**
 * `npm run migrate`: applies pending migrations, seeds the shipped probe library version, and exits. On the embedded database it refuses
 * while the service holds the data-directory lock (openDatabase takes the same lock).
 */
async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const database = await openDatabase({
    mode: config.mode,
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    poolMax: 1,
    statementTimeoutMs: Math.max(config.databaseStatementTimeoutMs, 600_000),
    breaker: { run: (fn) => fn() },
    logger,
  });
  try {
    const results = await migrateToLatest(database.db as never);
    for (const result of results) logger.info({ migration: result.migrationName, status: result.status }, 'migration');
    logger.info({ applied: results.length }, results.length === 0 ? 'database already up to date' : 'migrations applied');
    // Only parameter checks of the scorers run here: no judge is called, nothing is audited.
    const scorers = createScorerService({ judge: () => unavailableJudgeTransport, audit: { recordNow: () => Promise.resolve('') } });
    const library = await seedShippedLibrary(database.db, { taxonomies: loadTaxonomyService(), scorers, converters: createConverterService() });
    logger.info(library, library.seeded ? 'probe library seeded' : 'probe library already seeded');
    const appRole = process.env.DATABASE_APP_ROLE;
    if (appRole && config.mode === 'server') {
      await grantAppRole(database.db as never, appRole);
      logger.info({ role: appRole }, 'application role granted (audit tables: select, insert, seal only)');
    }
  } finally {
    await database.close();
  }
}

// Only as the entry point (`node dist/ops/migrate.js`): tests import grantAppRole from this module.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main().catch(reportStartupFailure);
