import type { Clock } from '../../platform/clock.js';
import type { Keyring } from '../../platform/crypto/keyring.js';
import type { Db } from '../../platform/db/database.js';
import type { AuditContext, AuditRecorder } from '../audit/audit.recorder.js';
import { encryptArchive } from './backup-archive.js';
import { dumpLines, type ArchiveManifest } from './backup-content.js';
import type { BackupRepo, Executor } from './backup.repo.js';

/** Table counts an audit event can carry: the totals and the largest tables (an event holds 16 facts). */
const LARGEST_TABLES_IN_EVENT = 13;

export function backupEventDetail(manifest: ArchiveManifest, keyVersion: number): Record<string, number> {
  const detail: Record<string, number> = {
    tables: manifest.tables.length,
    rows: manifest.tables.reduce((sum, table) => sum + table.rows, 0),
    keyVersion,
  };
  const largest = [...manifest.tables].sort((a, b) => b.rows - a.rows || a.name.localeCompare(b.name)).slice(0, LARGEST_TABLES_IN_EVENT);
  for (const table of largest) detail[`rows.${table.name}`] = table.rows;
  return detail;
}

/**
 * Encrypted logical backups of the whole database (issue 9 §3): one repeatable-read transaction, so
 * every table is read at the same instant; tables streamed in keyset batches into the archive, never
 * the whole database in memory. The audit event (`backup.created`, with table counts) is inserted in
 * that transaction, after the last table was read, and commits before the archive's final frame is
 * produced: an archive that ends properly always has its event.
 */
export function createBackupService(deps: {
  db: Db;
  backupRepo: BackupRepo;
  keyring: Keyring;
  clock: Clock;
  kind: 'pglite' | 'postgres';
  audit: Pick<AuditRecorder, 'record'>;
}) {
  return {
    /** The encrypted archive as a byte stream; stopping early rolls the transaction (and its event) back. */
    async *archive(context: AuditContext): AsyncGenerator<Buffer> {
      const trx = await deps.db.startTransaction().setIsolationLevel('repeatable read').execute();
      let finished = false;
      try {
        const tx = trx as unknown as Executor;
        await deps.backupRepo.pinTextForms(tx);
        const plaintext = dumpLines(deps.backupRepo, tx, { createdAt: deps.clock.now().toISOString(), database: deps.kind }, async (manifest) => {
          await deps.audit.record(trx, context, { action: 'backup.created', detail: backupEventDetail(manifest, deps.keyring.current) });
          await trx.commit().execute();
          finished = true;
        });
        yield* encryptArchive(deps.keyring, plaintext);
      } finally {
        if (!finished) await trx.rollback().execute();
      }
    },
  };
}

export type BackupService = ReturnType<typeof createBackupService>;
