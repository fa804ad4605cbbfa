import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';
import type { StoredAuditEvent } from '../../db/schema.js';

/** One event as the recorder hands it over: validated, bounded, not yet encrypted, not yet sealed. */
export type AuditEventRow = Omit<StoredAuditEvent, 'seq' | 'hash' | 'clientIp' | 'userAgent' | 'changedFields' | 'detail'> & {
  clientIp: string | null;
  userAgent: string | null;
  changedFields: readonly string[];
  detail: Readonly<Record<string, string | number | boolean | null>>;
};

/** The client address and user agent are personal data: envelopes bound to the event's id. */
export const auditEncryptedColumns = (cipher: FieldCipher) => encryptedColumns(cipher, 'audit_events', { clientIp: 'text', userAgent: 'text' });

/** Inserts audit events. Reading, sealing and verifying have their own repositories. */
export function createAuditRepo(deps: { cipher: FieldCipher }) {
  const sealed = auditEncryptedColumns(deps.cipher);

  return {
    async insert(executor: Db | Tx, event: AuditEventRow): Promise<void> {
      const { clientIp, userAgent, changedFields, detail, ...plain } = event;
      await executor
        .insertInto('auditEvents')
        .values({
          ...plain,
          ...sealed.seal(event.id, { clientIp, userAgent }),
          changedFields: JSON.stringify(changedFields),
          detail: JSON.stringify(detail),
        })
        .execute();
    },
  };
}

export type AuditRepo = ReturnType<typeof createAuditRepo>;
