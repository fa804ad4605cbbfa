import type { Clock } from '../../platform/clock.js';
import type { Tx } from '../../platform/db/transaction.js';
import { normaliseEmail, type BlindIndex } from '../../platform/crypto/index.js';
import { newId } from '../../platform/ids.js';
import { RECIPIENT_INDEX_PURPOSE, type MailRepo } from './mail.repo.js';
import { renderMail, type MailTemplate, type MailTemplates } from './mail.templates.js';

/**
 * Mail goes out through the outbox only: `send` writes the message in the caller's transaction, so a
 * change and the mail it causes commit (or vanish) together. Delivery happens later, by the relay job.
 */
export function createMailService(deps: { mailRepo: Pick<MailRepo, 'insert'>; blindIndex: Pick<BlindIndex, 'compute'>; clock: Pick<Clock, 'now'>; publicUrl: string }) {
  return {
    async send<T extends MailTemplate>(tx: Tx, to: string, template: T, vars: MailTemplates[T]): Promise<string> {
      const { subject, body } = renderMail(template, vars, deps.publicUrl);
      const id = newId();
      await deps.mailRepo.insert(tx, {
        id,
        template,
        recipient: to,
        recipientIndex: deps.blindIndex.compute(normaliseEmail(to), RECIPIENT_INDEX_PURPOSE),
        subject,
        body,
        createdAt: deps.clock.now(),
      });
      return id;
    },
  };
}

export type MailService = ReturnType<typeof createMailService>;
