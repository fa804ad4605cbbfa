import { loadConfig } from '../config/config.js';
import { openDatabase } from '../platform/db/database.js';
import { migrateToLatest } from '../platform/db/migrator.js';
import { createLogger } from '../platform/logger.js';
import { reportStartupFailure } from '../platform/process-lifecycle.js';

/**
 * `npm run migrate`: applies pending migrations and exits. On the embedded database it refuses
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
  } finally {
    await database.close();
  }
}

main().catch(reportStartupFailure);
