import type { Kysely } from 'kysely';
import { migrations } from '../../db/migrations/index.js';
import type { Keyring } from '../../platform/crypto/keyring.js';
import { ArchiveError, decryptArchive } from './backup-archive.js';
import { digestTable, readContent, type ArchiveBegin, type ArchiveManifest } from './backup-content.js';
import type { BackupRepo, Executor } from './backup.repo.js';

/** Opens the archive file again for each pass (it is read twice, never held in memory). */
export type ArchiveSource = () => AsyncIterable<Uint8Array>;

export interface VerifiedArchive {
  begin: ArchiveBegin;
  manifest: ArchiveManifest;
}

/**
 * Pass 1: decrypts and checks the WHOLE archive (every frame, the structure, each table's count and
 * hash, the manifest) and that this build knows its migrations, writing nothing. Throws ArchiveError.
 */
export async function verifyArchive(keyring: Keyring, source: ArchiveSource): Promise<VerifiedArchive> {
  let begin: ArchiveBegin | undefined;
  let manifest: ArchiveManifest | undefined;
  try {
    for await (const event of readContent(decryptArchive(keyring, source()))) {
      if (event.kind === 'begin') begin = event.begin;
      else if (event.kind === 'manifest') manifest = event.manifest;
    }
  } catch (error) {
    if (error instanceof SyntaxError) throw new ArchiveError('the archive content is not well-formed');
    throw error;
  }
  if (!begin || !manifest) throw new ArchiveError('the archive is incomplete');
  checkMigrations(begin.migrations);
  return { begin, manifest };
}

/** The archive's migrations must be exactly this build's first N, in order (no unknown, none skipped). */
function checkMigrations(listed: readonly string[]): void {
  const known = Object.keys(migrations);
  const unknown = listed.filter((name) => !Object.hasOwn(migrations, name));
  if (unknown.length > 0) throw new ArchiveError(`the archive was written by a newer build: this build does not know migration(s) ${unknown.join(', ')}`);
  if (listed.length === 0 || listed.some((name, i) => known[i] !== name)) throw new ArchiveError('the archive lists migrations that are not a prefix of this build\'s migrations');
}


/**
 * Pass 2, in ONE transaction: decrypts again (still authenticating every frame: a file changed between
 * the passes fails here and rolls back), loads each table's rows in batches with the foreign keys deferred (some form cycles) and
 * checked before commit, resets the serial sequences, then recomputes every table's count and hash from the database and compares them
 * with the manifest. Audit rows go in as they were (INSERT is allowed on the append-only tables), seq
 * and hash included, so the chain verifies on the restored database.
 */
export async function loadArchive(db: Kysely<unknown>, backupRepo: BackupRepo, keyring: Keyring, source: ArchiveSource, expected: VerifiedArchive): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const tx = trx as unknown as Executor;
    await backupRepo.pinTextForms(tx);
    const present = new Map((await backupRepo.tables(tx)).map((table) => [table.name, table]));
    for (const table of expected.begin.tables) {
      const here = present.get(table.name);
      // The archive's columns must be the migrated schema's, in the same order: the rows are positional.
      if (!here || here.columns.map((c) => `${c.name} ${c.type}`).join(',') !== table.columns.map((c) => `${c.name} ${c.type}`).join(',')) {
        throw new ArchiveError(`table ${table.name} of the archive does not match the migrated schema`);
      }
    }
    const deferred = await backupRepo.deferForeignKeys(tx);
    for await (const event of readContent(decryptArchive(keyring, source()))) {
      if (event.kind === 'rows') await backupRepo.insertBatch(tx, event.table, event.rows);
      else if (event.kind === 'table-end') await backupRepo.resetSequences(tx, event.table);
    }
    await backupRepo.checkForeignKeys(tx, deferred);
    for (const entry of expected.manifest.tables) {
      const digest = await digestTable(backupRepo, tx, present.get(entry.name)!);
      if (digest.rows !== entry.rows || digest.sha256 !== entry.sha256) {
        throw new ArchiveError(`table ${entry.name}: the restored rows do not match the archive (${digest.rows} of ${entry.rows} rows)`);
      }
    }
  });
}
