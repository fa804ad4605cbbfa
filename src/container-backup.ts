import type { Clock } from './platform/clock.js';
import type { Keyring } from './platform/crypto/keyring.js';
import type { DatabaseHandle } from './platform/db/database.js';
import type { AuditRecorder } from './modules/audit/audit.recorder.js';
import { createBackupRepo } from './modules/backup/backup.repo.js';
import { createBackupService } from './modules/backup/backup.service.js';

/**
 * Wires backups (issue 9 §3): the archive service behind `POST /admin/backups` and `npm run backup`.
 * The archive key comes from the encryption keyring (whoever can read the field envelopes can read
 * the archive, and nobody else).
 */
export function createBackupModule(deps: { database: Pick<DatabaseHandle, 'db' | 'kind'>; keyring: Keyring; clock: Clock; audit: Pick<AuditRecorder, 'record'> }) {
  const backupRepo = createBackupRepo();
  return {
    backupRepo,
    service: createBackupService({ db: deps.database.db, backupRepo, keyring: deps.keyring, clock: deps.clock, kind: deps.database.kind, audit: deps.audit }),
  };
}

export type BackupModule = ReturnType<typeof createBackupModule>;
