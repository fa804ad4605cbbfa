import { performance } from 'node:perf_hooks';
import type { Policy } from '../../config/policy.schema.js';
import type { Clock } from '../../platform/clock.js';
import type { BlindIndex, FieldCipher } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { newId } from '../../platform/ids.js';
import { definePeriodicJob, PURGE_BATCH, purgeInBatches } from '../../platform/jobs.js';
import type { Logger } from '../../platform/logger.js';
import type { AlertRule, AnalysedEvent, RuleContext } from './alert-rules.js';
import type { AlertsRepo } from './alerts.repo.js';
import { auditEncryptedColumns } from './audit.repo.js';
import { systemContext, type AuditRecorder } from './audit.recorder.js';

/** The cursor of the alert rules in `audit_analysis_cursors`. */
export const ALERT_ANALYSIS_CURSOR = 'alert-rules';
/** Blind-index purpose of client addresses (so the index cannot be joined with any other column's). */
export const CLIENT_IP_INDEX_PURPOSE = 'audit.client-ip';
/** Events per transaction (DESIGN §5: bounded batches). */
export const ANALYSIS_BATCH = 500;
/** A run stops after this long; the next run (seconds later) goes on from the cursor. */
const RUN_BUDGET_MS = 8_000;
/** Address rows are needed for the longest window the policy allows (a day), then purged. */
const IP_ROWS_KEPT_MS = 25 * 3_600_000;

const ACTOR = systemContext('audit.analyse');

export interface AuditAnalysisDeps {
  db: Db;
  clock: Pick<Clock, 'now'>;
  cipher: FieldCipher;
  blindIndex: Pick<BlindIndex, 'compute'>;
  alertsRepo: Pick<
    AlertsRepo,
    'lockCursor' | 'advanceCursor' | 'sealedAfter' | 'countEvents' | 'recordIpFailures' | 'countIpFailures' | 'purgeIpFailures' | 'raisedSince' | 'insertAlert' | 'insertDelivery'
  >;
  recorder: Pick<AuditRecorder, 'record'>;
  rules: readonly AlertRule[];
  thresholds: () => Policy['audit']['alerts'];
  /** Whether new alerts get a webhook outbox row. */
  webhookEnabled: boolean;
  logger: Pick<Logger, 'error' | 'warn' | 'info'>;
}

/**
 * Runs the alert rules over the sealed audit stream in `seq` order (issue 4 item 4). One batch is one
 * transaction: the cursor row is locked, the batch's alerts (with their `audit.alert.raised` events
 * and webhook outbox rows) are inserted, the cursor advances, and all of it commits together, so a
 * crash re-runs the batch and the alerts' dedupe keys keep it from raising anything twice.
 */
export function createAuditAnalysis(deps: AuditAnalysisDeps) {
  const repo = deps.alertsRepo;
  const sealed = auditEncryptedColumns(deps.cipher);

  /** The blind index of a failed sign-in's client address; the address itself goes no further. */
  function ipIndexOf(row: { id: string; action: string; clientIp: Buffer | null }): Buffer | null {
    if (row.action !== 'auth.login.failed' || !row.clientIp) return null;
    try {
      const { clientIp } = sealed.open({ id: row.id, clientIp: row.clientIp });
      return clientIp ? deps.blindIndex.compute(clientIp.trim().toLowerCase(), CLIENT_IP_INDEX_PURPOSE) : null;
    } catch {
      // A tampered envelope is the verifier's finding; here the event just is not grouped by address.
      deps.logger.warn({ eventId: row.id }, 'audit analysis could not open a client address');
      return null;
    }
  }

  function contextOf(tx: Tx, thresholds: RuleContext['thresholds']): RuleContext {
    return {
      thresholds,
      countEvents: (filter, window) => repo.countEvents(tx, filter, window),
      countFailedLoginsFromAddress: (ipIndex, window) => repo.countIpFailures(tx, ipIndex, window),
      raisedSince: (rule, groupKey, since) => repo.raisedSince(tx, rule, groupKey, since),
    };
  }

  async function evaluate(tx: Tx, ctx: RuleContext, event: AnalysedEvent): Promise<number> {
    let raised = 0;
    for (const rule of deps.rules) {
      let alert;
      try {
        alert = await rule.onEvent(event, ctx);
      } catch (error) {
        // One broken rule must not stop the others; a failed statement aborts the batch anyway.
        deps.logger.error({ err: (error as Error).message, rule: rule.id, seq: event.seq }, 'audit alert rule failed');
        continue;
      }
      if (!alert) continue;
      const now = deps.clock.now();
      const id = newId();
      const inserted = await repo.insertAlert(tx, {
        id,
        orgId: alert.orgId,
        rule: rule.id,
        severity: alert.severity,
        summary: alert.summary.slice(0, 500),
        groupKey: alert.groupKey,
        dedupeKey: `${rule.id}:${event.id}`,
        triggeredAt: event.occurredAt,
        firstSeq: alert.firstSeq ?? event.seq,
        lastSeq: event.seq,
        eventIds: [event.id],
        detail: alert.detail,
        createdAt: now,
      });
      if (!inserted) continue;
      await deps.recorder.record(tx, ACTOR, {
        action: 'audit.alert.raised',
        orgId: alert.orgId,
        resourceId: id,
        detail: { rule: rule.id, severity: alert.severity },
      });
      if (deps.webhookEnabled) await repo.insertDelivery(tx, id, now);
      raised += 1;
    }
    return raised;
  }

  /** One batch in one transaction; returns how many events it read and alerts it raised. */
  function runBatch(): Promise<{ processed: number; raised: number }> {
    const thresholds = deps.thresholds();
    return deps.db.transaction().execute(async (tx) => {
      const cursor = await repo.lockCursor(tx, ALERT_ANALYSIS_CURSOR, deps.clock.now());
      const rows = await repo.sealedAfter(tx, cursor, ANALYSIS_BATCH);
      if (rows.length === 0) return { processed: 0, raised: 0 };
      const events: AnalysedEvent[] = rows.map(({ clientIp, ...row }) => ({
        ...row,
        seq: Number(row.seq),
        detail: row.detail,
        ipIndex: ipIndexOf({ id: row.id, action: row.action, clientIp }),
      }));
      await repo.recordIpFailures(
        tx,
        events.flatMap((event) => (event.ipIndex ? [{ eventId: event.id, seq: event.seq, ipIndex: event.ipIndex, occurredAt: event.occurredAt }] : [])),
      );
      const ctx = contextOf(tx, thresholds);
      let raised = 0;
      for (const event of events) raised += await evaluate(tx, ctx, event);
      await repo.advanceCursor(tx, ALERT_ANALYSIS_CURSOR, events.at(-1)!.seq, deps.clock.now());
      return { processed: rows.length, raised };
    });
  }

  /** Batches until caught up, out of time or asked to stop; then purges address rows past every window. */
  async function run(signal: AbortSignal): Promise<{ processed: number; raised: number }> {
    const started = performance.now();
    const totals = { processed: 0, raised: 0 };
    while (!signal.aborted && performance.now() - started < RUN_BUDGET_MS) {
      const batch = await runBatch();
      totals.processed += batch.processed;
      totals.raised += batch.raised;
      if (batch.processed < ANALYSIS_BATCH) break;
    }
    const cutoff = new Date(deps.clock.now().getTime() - IP_ROWS_KEPT_MS);
    await purgeInBatches(signal, (batch) => repo.purgeIpFailures(deps.db, cutoff, batch), PURGE_BATCH);
    if (totals.raised > 0) deps.logger.info(totals, 'audit.analysis.run');
    return totals;
  }

  return { runBatch, run };
}

export type AuditAnalysis = ReturnType<typeof createAuditAnalysis>;

/** The periodic job; the next run is the retry, so a failed run is not retried on its own. */
export const auditAnalysisJob = (analysis: Pick<AuditAnalysis, 'run'>) =>
  definePeriodicJob('audit.analyse', (signal) => analysis.run(signal));
