import { createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AuditAlertWebhookConfig } from '../../config/config.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { EgressClient } from '../../platform/egress/index.js';
import { isEgressError } from '../../platform/egress/index.js';
import { definePeriodicJob } from '../../platform/jobs.js';
import type { Logger } from '../../platform/logger.js';
import type { AlertsRepo, AuditAlertRow } from './alerts.repo.js';
import { toAlertView } from './alerts.service.js';

export const TIMESTAMP_HEADER = 'x-vutf-timestamp';
export const SIGNATURE_HEADER = 'x-vutf-signature';

/** Deliveries claimed per transaction. */
const CLAIM_BATCH = 20;
/** Sending stops after this long; the rest waits for the next run (DESIGN §5: short runs). */
const RUN_BUDGET_MS = 8_000;
/** One delivery's deadline (the egress policy may make it shorter, never longer). */
const DELIVERY_TIMEOUT_MS = 5_000;
/** The receiver's answer is not used: read at most this much of it. */
const RESPONSE_LIMIT_BYTES = 16 * 1024;
/** Longer than a run can last, so two workers never send one alert at once; after a crash it is sent again (at least once). */
const CLAIM_LEASE_MS = 5 * 60_000;
const RETRY_BASE_MS = 30_000;
const RETRY_CAP_MS = 60 * 60_000;

/** Wait after failed attempt n: 30 s × 2^(n-1), capped at an hour. */
export const alertRetryDelayMs = (attempts: number): number => Math.min(RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1), RETRY_CAP_MS);

/**
 * `sha256=<hex HMAC-SHA-256 over "<timestamp>.<body>">`. The timestamp is signed with the body, so a
 * receiver that checks the signature and rejects old timestamps also rejects replays.
 */
export function signAlertWebhook(secret: string, timestampSeconds: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex')}`;
}

/** The JSON body: the alert as the API shows it (ids and counts only, no acknowledgement note). */
export function alertWebhookBody(alert: AuditAlertRow): string {
  const { note: _note, ...view } = toAlertView(alert);
  return JSON.stringify({ type: 'audit.alert.raised', alert: view });
}

/** What is kept of a failure: a code, never the receiver's body or a URL. */
const describeFailure = (error: unknown): string => (isEgressError(error) ? error.code : 'error');

export interface AlertWebhookDeps {
  db: Db;
  clock: Pick<Clock, 'now'>;
  alertsRepo: Pick<AlertsRepo, 'claimDeliveries' | 'markDelivered' | 'markAttemptFailed'>;
  egress: Pick<EgressClient, 'request'>;
  webhook: AuditAlertWebhookConfig;
  maxAttempts: () => number;
  logger: Pick<Logger, 'info' | 'warn'>;
}

/**
 * The alert webhook relay (outbox pattern): claims due deliveries in a short transaction, POSTs each
 * signed alert through the egress client after COMMIT (no network inside a transaction), and records
 * the outcome. A 2xx answer delivers; anything else retries with backoff until `maxAttempts`.
 */
export function createAlertWebhookRelay(deps: AlertWebhookDeps) {
  async function send(alert: AuditAlertRow): Promise<string | undefined> {
    const body = alertWebhookBody(alert);
    const timestamp = Math.floor(deps.clock.now().getTime() / 1000);
    try {
      const response = await deps.egress.request({
        method: 'POST',
        url: deps.webhook.url,
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signAlertWebhook(deps.webhook.secret, timestamp, body),
        },
        body,
        timeoutMs: DELIVERY_TIMEOUT_MS,
        maxResponseBytes: RESPONSE_LIMIT_BYTES,
      });
      return response.status >= 200 && response.status < 300 ? undefined : `http ${response.status}`;
    } catch (error) {
      return describeFailure(error);
    }
  }

  async function run(signal: AbortSignal): Promise<{ delivered: number; retry: number; failed: number }> {
    const started = performance.now();
    const totals = { delivered: 0, retry: 0, failed: 0 };
    while (!signal.aborted && performance.now() - started < RUN_BUDGET_MS) {
      const now = deps.clock.now();
      const claimed = await deps.db
        .transaction()
        .execute((tx) => deps.alertsRepo.claimDeliveries(tx, now, CLAIM_BATCH, new Date(now.getTime() + CLAIM_LEASE_MS)));
      for (const { alert, attempts } of claimed) {
        const failure = await send(alert);
        if (failure === undefined) {
          await deps.alertsRepo.markDelivered(deps.db, alert.id, deps.clock.now());
          totals.delivered += 1;
          continue;
        }
        const final = attempts >= deps.maxAttempts();
        const retryAt = final ? null : new Date(deps.clock.now().getTime() + alertRetryDelayMs(attempts));
        await deps.alertsRepo.markAttemptFailed(deps.db, alert.id, failure, retryAt);
        totals[final ? 'failed' : 'retry'] += 1;
        deps.logger.warn({ alertId: alert.id, attempt: attempts, error: failure, final }, 'audit.alert.delivery.failed');
      }
      if (claimed.length < CLAIM_BATCH) break;
    }
    if (totals.delivered + totals.retry + totals.failed > 0) deps.logger.info(totals, 'audit.alert.relay.run');
    return totals;
  }

  return { run };
}

export type AlertWebhookRelay = ReturnType<typeof createAlertWebhookRelay>;

/** The periodic delivery job; the next scheduled run is the retry. */
export const deliverAlertsJob = (relay: Pick<AlertWebhookRelay, 'run'>) =>
  definePeriodicJob('audit.deliver-alerts', (signal) => relay.run(signal));
