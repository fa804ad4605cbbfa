import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { loadConfig, type Config } from '../config/config.js';
import { KEY_NAMES } from '../config/config.schema.js';
import { resolveKeys } from '../config/keys.js';
import { createContainer } from '../container.js';
import { systemContext } from '../modules/audit/audit.recorder.js';
import { ArchiveError } from '../modules/backup/backup-archive.js';
import { loadArchive, verifyArchive, type ArchiveSource } from '../modules/backup/backup-restore.js';
import { migrateTo } from '../platform/db/migrator.js';
import { createBackupRepo } from '../modules/backup/backup.repo.js';
import { backupEventDetail } from '../modules/backup/backup.service.js';
import { openDatabase, type DatabaseHandle } from '../platform/db/database.js';
import { lockHolder } from '../platform/db/data-dir-lock.js';
import { createLogger } from '../platform/logger.js';
import { isKnownStartupError } from '../platform/process-lifecycle.js';
import { EXIT, type CommandIo, type CommandOverrides } from './operator-command.js';

const USAGE = 'usage: npm run restore -- <archive file>\n  restores an archive of `npm run backup` into an EMPTY instance that has the same keys';

const keyFileOf = (dataDir: string, name: string) => path.join(dataDir, 'keys', name.toLowerCase().replaceAll('_', '-'));

/** Why the embedded target is not a place to restore into, or undefined when it is. */
function embeddedRefusal(config: Config): string | undefined {
  const holder = lockHolder(config.dataDir);
  if (holder !== undefined) return `the data directory is in use by process ${holder}: stop the service; a restore needs an empty DATA_DIR`;
  const pgDir = path.join(config.dataDir, 'pg');
  if (existsSync(pgDir) && readdirSync(pgDir).length > 0) return `DATA_DIR ${config.dataDir} already holds a database: a restore only goes into an empty DATA_DIR`;
  // Keys are never generated for a restore: new keys could not open the archive nor the envelopes in it.
  const missing = KEY_NAMES.filter((name) => !config.keySources[name].value && !config.keySources[name].file && !existsSync(keyFileOf(config.dataDir, name)));
  if (missing.length > 0) return `missing keys ${missing.join(', ')}: give the keys the archive's instance used (variables, *_FILE, or DATA_DIR/keys)`;
  return undefined;
}

/** Removes what a failed load left: the embedded database directory, or every table and function of the schema. */
async function cleanUp(config: Config, database: DatabaseHandle | undefined): Promise<void> {
  if (config.mode === 'embedded') {
    await database?.close();
    await rm(path.join(config.dataDir, 'pg'), { recursive: true, force: true });
    return;
  }
  if (!database) return;
  await createBackupRepo().dropEverything(database.db as never);
  await database.close();
}

/**
 * `npm run restore -- <file>` (issue 9 §3). Refuses unless the target is empty (embedded: DATA_DIR
 * without a database; server: a schema without tables). Then: verifies the WHOLE archive first,
 * writing nothing (a tampered, truncated or extended archive, or the wrong keyring, is refused here);
 * runs the migrations the archive lists; loads every table in one transaction and checks counts and
 * hashes; finally starts the service's container once (later migrations, checks of the keys against
 * the restored data) and records `backup.restored` in the restored database.
 */
export async function runRestore(argv: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo, overrides: Pick<CommandOverrides, 'redisPrefix' | 'clock'> = {}): Promise<number> {
  if (argv.length !== 1 || argv[0]!.startsWith('-')) {
    io.stderr(USAGE);
    return EXIT.usage;
  }
  const file = path.resolve(argv[0]!);
  if (!existsSync(file)) {
    io.stderr(`restore: ${file} does not exist`);
    return EXIT.failed;
  }
  const source: ArchiveSource = () => createReadStream(file, { highWaterMark: 256 * 1024 });
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    io.stderr(`restore: ${isKnownStartupError(error) ? error.message : String(error)}`);
    return EXIT.failed;
  }
  const refusal = config.mode === 'embedded' ? embeddedRefusal(config) : undefined;
  if (refusal) {
    io.stderr(`restore: ${refusal}; nothing written`);
    return EXIT.failed;
  }

  const keys = resolveKeys(config);
  let verified;
  try {
    verified = await verifyArchive(keys.ENCRYPTION_KEYRING, source);
  } catch (error) {
    io.stderr(`restore: archive refused: ${error instanceof Error ? error.message : String(error)}; nothing written`);
    return EXIT.failed;
  }

  const logger = createLogger(config.logLevel, { write: (line: string) => io.stderr(line.trimEnd()) });
  let database: DatabaseHandle | undefined;
  try {
    database = await openDatabase({
      mode: config.mode,
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      poolMax: 2,
      // A load of a large archive is one long transaction: no per-statement limit beyond the default's.
      statementTimeoutMs: Math.max(config.databaseStatementTimeoutMs, 300_000),
      acquireTimeoutMs: 10_000,
      breaker: { run: (fn) => fn() },
      logger,
    });
    const db = database.db as unknown as Kysely<unknown>;
    const repo = createBackupRepo();
    if (config.mode === 'server') {
      const present = await repo.tableNames(db as never);
      if (present.length > 0) {
        await database.close();
        io.stderr(`restore: the schema already has ${present.length} table(s) (e.g. ${present[0]}): a restore only goes into an empty schema; nothing written`);
        return EXIT.failed;
      }
    }
    await migrateTo(db, verified.begin.migrations[verified.begin.migrations.length - 1]!);
    await loadArchive(db, repo, keys.ENCRYPTION_KEYRING, source, verified);
    await database.close();
    database = undefined;
  } catch (error) {
    await cleanUp(config, database).catch((cleanupError: unknown) => io.stderr(`restore: clean-up failed: ${String(cleanupError)}`));
    io.stderr(`restore: ${error instanceof ArchiveError ? 'archive refused: ' : ''}${error instanceof Error ? error.message : String(error)}; nothing kept`);
    return EXIT.failed;
  }

  // The restored instance, started once as the service would (later migrations, key checks), then the event.
  try {
    const container = await createContainer(config, { logger, runJobs: false, ...overrides });
    try {
      await container.audit.recorder.recordNow(systemContext('npm run restore'), { action: 'backup.restored', detail: backupEventDetail(verified.manifest, keys.ENCRYPTION_KEYRING.current) });
    } finally {
      await container.close();
    }
  } catch (error) {
    io.stderr(`restore: the data is restored, but the service's start on it failed: ${isKnownStartupError(error) ? error.message : String(error)}`);
    return EXIT.failed;
  }
  const rows = verified.manifest.tables.reduce((sum, table) => sum + table.rows, 0);
  io.stdout(`restore: restored ${rows} rows in ${verified.manifest.tables.length} tables from ${file} (written ${verified.begin.createdAt}); counts and hashes match; recorded as backup.restored`);
  return EXIT.ok;
}
