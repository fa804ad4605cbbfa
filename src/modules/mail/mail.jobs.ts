import { performance } from 'node:perf_hooks';
import type { Policy } from '../../config/policy.schema.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { EmptyPayload, definePurgeJob, purgeInBatches } from '../../platform/jobs.js';
import type { Logger } from '../../platform/logger.js';
import { defineJob } from '../../platform/queue/index.js';
import type { MailRepo } from './mail.repo.js';
import type { MailTransport } from './mail.transport.js';

/** After this many attempts a message is given up on (status `failed`). */
export const MAIL_MAX_ATTEMPTS = 8;
/** Messages claimed per transaction. */
const CLAIM_BATCH = 50;
/** Sending stops after this long; what is left goes back to the outbox for the next run (DESIGN §5: short runs). */
const RUN_BUDGET_MS = 20_000;
/**
 * How long a claimed message is hidden from other runs. Longer than a run can last (budget plus one
 * message's worst-case timeouts), so two workers never send the same message; if the process dies
 * mid-send the message is tried again after it (at-least-once delivery).
 */
const CLAIM_LEASE_MS = 10 * 60_000;
const RETRY_BASE_MS = 60_000;
const RETRY_CAP_MS = 60 * 60_000;
/** Sent and failed messages are kept this long (operators can see what went out, or did not), then deleted. */
export const FINISHED_MAIL_RETENTION_MS = 30 * 24 * 3_600_000;

/** Wait before attempt n+1 after attempt n failed: 1 min × 2^(n-1), capped at 1 h (1, 2, 4, … 32, 60 min: about 2 h in all). */
export const mailRetryDelayMs = (attempts: number): number => Math.min(RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1), RETRY_CAP_MS);

/** Errors that say the server (not this message) is unreachable or refuses us: the rest of the batch would fail the same way. */
const SERVER_WIDE_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EAUTH', 'EPROXY']);

/**
 * What is stored of a failure: the library's error code, the SMTP reply code and the command, never
 * the message text or the server's reply (those can echo the recipient address or our credentials).
 */
export function describeMailError(error: unknown): { text: string; serverWide: boolean } {
  const { code, responseCode, command } = (error ?? {}) as { code?: unknown; responseCode?: unknown; command?: unknown };
  const safeCode = typeof code === 'string' && /^E[A-Z]{2,20}$/.test(code) ? code : 'ERROR';
  const safeReply = typeof responseCode === 'number' && Number.isInteger(responseCode) ? ` ${responseCode}` : '';
  const safeCommand = typeof command === 'string' && /^[A-Z][A-Z -]{0,30}$/.test(command) ? ` at ${command}` : '';
  return { text: `${safeCode}${safeReply}${safeCommand}`, serverWide: SERVER_WIDE_CODES.has(safeCode) || responseCode === 421 };
}

// One address, nothing that could turn into a second recipient or a header.
const SINGLE_ADDRESS = /^[^\s@,;<>"()\\]+@[^\s@,;<>"()\\]+$/;

export interface MailRelayDeps {
  db: Db;
  clock: Pick<Clock, 'now'>;
  mailRepo: Pick<MailRepo, 'claimDue' | 'markSent' | 'markFailed' | 'scheduleRetry' | 'release'>;
  transport: MailTransport;
  logger: Pick<Logger, 'info' | 'warn'>;
}

/**
 * The relay: moves due outbox messages to the SMTP server. Claims a batch in a short transaction
 * (SKIP LOCKED, attempt counted), sends each message after COMMIT (no network inside a transaction),
 * then records the outcome per message. Logs carry message ids and counts only, never a recipient,
 * subject or body.
 */
export const deliverOutboxJob = (deps: MailRelayDeps) =>
  defineJob({
    name: 'mail.deliver-outbox',
    payload: EmptyPayload,
    // The next scheduled run (seconds later) is the retry; a failed run must not stack up retries.
    attempts: 1,
    handler: async (_payload, context) => {
      const started = performance.now();
      const totals = { sent: 0, retry: 0, failed: 0, released: 0 };
      let stop = false;
      while (!stop && !context.signal.aborted && performance.now() - started < RUN_BUDGET_MS) {
        const now = deps.clock.now();
        const claimed = await deps.db
          .transaction()
          .execute((tx) => deps.mailRepo.claimDue(tx, now, CLAIM_BATCH, new Date(now.getTime() + CLAIM_LEASE_MS)));
        for (const [index, mail] of claimed.entries()) {
          if (context.signal.aborted || performance.now() - started >= RUN_BUDGET_MS) {
            const rest = claimed.slice(index).map((m) => m.id);
            await deps.mailRepo.release(deps.db, rest, deps.clock.now());
            totals.released += rest.length;
            stop = true;
            break;
          }
          if (!SINGLE_ADDRESS.test(mail.recipient)) {
            await deps.mailRepo.markFailed(deps.db, mail.id, 'invalid recipient address', true);
            totals.failed += 1;
            continue;
          }
          try {
            await deps.transport.send({ to: mail.recipient, subject: mail.subject, text: mail.body });
            await deps.mailRepo.markSent(deps.db, mail.id, deps.clock.now());
            totals.sent += 1;
          } catch (error) {
            const { text, serverWide } = describeMailError(error);
            const final = mail.attempts >= MAIL_MAX_ATTEMPTS;
            if (final) await deps.mailRepo.markFailed(deps.db, mail.id, text, true);
            else await deps.mailRepo.scheduleRetry(deps.db, mail.id, text, new Date(deps.clock.now().getTime() + mailRetryDelayMs(mail.attempts)));
            totals[final ? 'failed' : 'retry'] += 1;
            deps.logger.warn({ mailId: mail.id, attempt: mail.attempts, error: text, final }, 'mail.delivery.failed');
            if (serverWide) {
              // The server is down or refuses us: the others wait one retry period, their attempt not counted.
              const rest = claimed.slice(index + 1).map((m) => m.id);
              await deps.mailRepo.release(deps.db, rest, new Date(deps.clock.now().getTime() + RETRY_BASE_MS));
              totals.released += rest.length;
              stop = true;
              break;
            }
          }
        }
        if (claimed.length < CLAIM_BATCH) break;
      }
      if (totals.sent + totals.retry + totals.failed + totals.released > 0) deps.logger.info(totals, 'mail.relay.run');
    },
  });

/**
 * Deletes messages sent, or given up on, longer ago than the policy's `retention.finishedOutboxDays`
 * (default 30; without a policy getter, FINISHED_MAIL_RETENTION_MS), in batches.
 */
export const purgeFinishedMailJob = (deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  mailRepo: Pick<MailRepo, 'purgeFinished'>;
  retention?: () => Pick<Policy['retention'], 'finishedOutboxDays'>;
}) =>
  definePurgeJob('mail.purge-finished', (signal) => {
    const keepMs = deps.retention ? deps.retention().finishedOutboxDays * 86_400_000 : FINISHED_MAIL_RETENTION_MS;
    const cutoff = new Date(deps.clock.now().getTime() - keepMs);
    return purgeInBatches(signal, (batch) => deps.mailRepo.purgeFinished(deps.db, cutoff, batch));
  });
