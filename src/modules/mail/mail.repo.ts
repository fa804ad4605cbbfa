import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';

/** Purpose label of the recipient blind index (lets an operator find a person's mail without decrypting all). */
export const RECIPIENT_INDEX_PURPOSE = 'mail.recipient';

/** The one declaration of what is encrypted in the outbox: the recipient (PII) and the body (it carries tokens). */
export const MAIL_SEALED_COLUMNS = { recipient: 'text', body: 'text' } as const;

export interface NewMail {
  id: string;
  template: string;
  recipient: string;
  recipientIndex: Buffer;
  subject: string;
  body: string;
  createdAt: Date;
}

export function createMailRepo(deps: { cipher: FieldCipher }) {
  const sealed = encryptedColumns(deps.cipher, 'mail_outbox', MAIL_SEALED_COLUMNS);

  return {
    async insert(tx: Tx, mail: NewMail): Promise<void> {
      await tx
        .insertInto('mailOutbox')
        .values({
          id: mail.id,
          template: mail.template,
          recipientIndex: mail.recipientIndex,
          subject: mail.subject,
          ...sealed.seal(mail.id, { recipient: mail.recipient, body: mail.body }),
          nextAttemptAt: mail.createdAt,
          createdAt: mail.createdAt,
        })
        .execute();
    },

    /**
     * Claims up to `limit` due messages for one delivery attempt: SKIP LOCKED lets several workers
     * share the outbox, and the attempt is counted before sending so a crash cannot loop forever.
     */
    async claimDue(tx: Tx, now: Date, limit: number, retryAt: Date) {
      const rows = await tx
        .selectFrom('mailOutbox')
        .selectAll()
        .where('status', '=', 'pending')
        .where('nextAttemptAt', '<=', now)
        .orderBy('nextAttemptAt')
        .limit(limit)
        .forUpdate()
        .skipLocked()
        .execute();
      if (rows.length === 0) return [];
      await tx
        .updateTable('mailOutbox')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), nextAttemptAt: retryAt }))
        .where(
          'id',
          'in',
          rows.map((row) => row.id),
        )
        .execute();
      return rows.map((row) => ({ ...sealed.open(row), attempts: row.attempts + 1 }));
    },

    async markSent(executor: Db | Tx, id: string, now: Date): Promise<void> {
      await executor.updateTable('mailOutbox').set({ status: 'sent', sentAt: now, lastError: null }).where('id', '=', id).execute();
    },

    /** Records a failed attempt; `final` gives up on the message. The error text must hold no secret. */
    async markFailed(executor: Db | Tx, id: string, error: string, final: boolean): Promise<void> {
      await executor
        .updateTable('mailOutbox')
        .set({ lastError: error.slice(0, 500), ...(final ? { status: 'failed' as const } : {}) })
        .where('id', '=', id)
        .execute();
    },

    /** A failed attempt that will be tried again at `nextAttemptAt`. The error text must hold no secret. */
    async scheduleRetry(executor: Db | Tx, id: string, error: string, nextAttemptAt: Date): Promise<void> {
      await executor
        .updateTable('mailOutbox')
        .set({ lastError: error.slice(0, 500), nextAttemptAt })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .execute();
    },

    /** Gives claimed messages back untried: the attempt `claimDue` counted is taken back. */
    async release(executor: Db | Tx, ids: readonly string[], nextAttemptAt: Date): Promise<void> {
      if (ids.length === 0) return;
      await executor
        .updateTable('mailOutbox')
        .set((eb) => ({ attempts: eb('attempts', '-', 1), nextAttemptAt }))
        .where('id', 'in', [...ids])
        .where('status', '=', 'pending')
        .where('attempts', '>', 0)
        .execute();
    },

    /**
     * Deletes up to `batch` finished messages: sent before `cutoff`, or given up on and created before it
     * (a failed message still holds an encrypted recipient and body); returns how many.
     */
    async purgeFinished(executor: Db | Tx, cutoff: Date, batch: number): Promise<number> {
      const result = await executor
        .deleteFrom('mailOutbox')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('mailOutbox')
            .select('id')
            .where((w) => w.or([w.and([w('status', '=', 'sent'), w('sentAt', '<', cutoff)]), w.and([w('status', '=', 'failed'), w('createdAt', '<', cutoff)])]))
            .limit(batch),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type MailRepo = ReturnType<typeof createMailRepo>;
