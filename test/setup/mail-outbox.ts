import { encryptedColumns, normaliseEmail } from '../../src/platform/crypto/index.js';
import { MAIL_SEALED_COLUMNS, RECIPIENT_INDEX_PURPOSE } from '../../src/modules/mail/mail.repo.js';
import type { TestApp } from './test-app.js';

/** One outbox message as a test sees it: recipient and body decrypted. */
export interface OutboxMail {
  id: string;
  template: string;
  recipient: string;
  subject: string;
  body: string;
  status: string;
  createdAt: Date;
}

/**
 * The messages written to the outbox for `email`, newest first (found by the recipient blind
 * index, then opened the way the relay opens them).
 */
export async function readOutbox(t: TestApp, email: string): Promise<OutboxMail[]> {
  const index = t.container.blindIndex.compute(normaliseEmail(email), RECIPIENT_INDEX_PURPOSE);
  const rows = await t.container.db.selectFrom('mailOutbox').selectAll().where('recipientIndex', '=', index).orderBy('id', 'desc').execute();
  return openAll(t, rows);
}

/** Every message in the outbox, newest first (to prove something was, or was not, sent at all). */
export async function readAllOutbox(t: TestApp): Promise<OutboxMail[]> {
  return openAll(t, await t.container.db.selectFrom('mailOutbox').selectAll().orderBy('id', 'desc').execute());
}

function openAll(t: TestApp, rows: Array<{ id: string }>): OutboxMail[] {
  const sealed = encryptedColumns(t.container.cipher, 'mail_outbox', MAIL_SEALED_COLUMNS);
  return rows.map((row) => {
    const { id, template, recipient, subject, body, status, createdAt } = sealed.open(row) as unknown as OutboxMail;
    return { id, template, recipient, subject, body, status, createdAt };
  });
}

/** The 43-character base64url token in a mail body (the first one; the link repeats it). */
export function tokenFromMail(body: string): string {
  const match = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/.exec(body);
  if (!match) throw new Error('no token in this mail body');
  return match[0];
}
