import path from 'node:path';
import type { Config } from './config/config.js';
import type { Keys } from './config/keys.js';
import type { Clock } from './platform/clock.js';
import type { FieldCipher } from './platform/crypto/index.js';
import type { Db } from './platform/db/database.js';
import type { Logger } from './platform/logger.js';
import type { JobDefinition } from './platform/queue/index.js';
import type { PeriodicJob } from './platform/queue/schedule-periodic.js';
import { createAuditRepo, type AuditRepo } from './modules/audit/audit.repo.js';
import { createAuditRecorder } from './modules/audit/audit.recorder.js';
import { createHttpAudit } from './modules/audit/audit.http.js';
import { createAuditQueryRepo } from './modules/audit/audit-query.repo.js';
import { createAuditQueryService } from './modules/audit/audit-query.service.js';
import { auditChainRepo } from './modules/audit/audit-chain.repo.js';
import { createCheckpointSigner } from './modules/audit/audit-checkpoints.js';
import { auditSealJob, CHECKPOINT_FILE, createAuditSealer } from './modules/audit/audit-sealer.js';
import { createAuditVerifier } from './modules/audit/audit-verify.service.js';
import { auditVerifyJob, createChainWatch } from './modules/audit/audit-watch.js';
import type { Policy } from './config/policy.schema.js';
import { createBlindIndex } from './platform/crypto/index.js';
import { createEgressClient } from './platform/egress/index.js';
import { builtInAlertRules } from './modules/audit/alert-rules.js';
import { createAlertsRepo } from './modules/audit/alerts.repo.js';
import { createAlertsService } from './modules/audit/alerts.service.js';
import { auditAnalysisJob, createAuditAnalysis } from './modules/audit/audit-analysis.js';
import { createAlertWebhookRelay, deliverAlertsJob } from './modules/audit/alert-webhook.js';

/**
 * Wires the audit trail (issue 4): recording (the recorder and the HTTP declarations), sealing and
 * verification, search and export, analysis and alerts. Built before the job registry: its jobs and
 * periodic schedules join everyone else's.
 */
export function createAuditModule(deps: {
  db: Db;
  clock: Clock;
  cipher: FieldCipher;
  logger: Logger;
  /** The AUDIT_SIGNING_KEY keyring signs checkpoints (sealer) and its public keys verify them. */
  keys: Pick<Keys, 'AUDIT_SIGNING_KEY' | 'BLIND_INDEX_KEY'>;
  /** Where checkpoints leave the database: DATA_DIR file (embedded) or the log stream (server); the alert webhook. */
  config: Pick<Config, 'mode' | 'dataDir' | 'auditAlertWebhook'>;
  /**
   * The policy in force (alert thresholds, egress limits), read on every run. A getter because the
   * policy service is built after this module (it records `policy.applied` through the recorder).
   */
  policy: () => Policy;
  /** Replaces the insert (the benchmark's no-op sink); never set by the service. */
  auditRepo?: Pick<AuditRepo, 'insert'>;
}) {
  const { db, clock, cipher, logger } = deps;
  const auditRepo = deps.auditRepo ?? createAuditRepo({ cipher });
  const recorder = createAuditRecorder({ db, auditRepo, clock });
  const http = createHttpAudit({ recorder, logger });
  // Search, export and statistics (GET /api/v1/audit/events, /export, /stats).
  const query = createAuditQueryService({ db, auditQueryRepo: createAuditQueryRepo({ cipher }), clock });

  // Sealing and verification of the chain (ADR 0007): one sealer at a time, signed checkpoints.
  const signer = createCheckpointSigner(deps.keys.AUDIT_SIGNING_KEY);
  const sealer = createAuditSealer({ db, clock, logger, repo: auditChainRepo, signer, mode: deps.config.mode, dataDir: deps.config.dataDir });
  const verifier = createAuditVerifier({ db, repo: auditChainRepo, signer });
  const watch = createChainWatch({ verifier, recorder, logger });
  const checkpointFile = deps.config.mode === 'embedded' ? path.join(deps.config.dataDir, CHECKPOINT_FILE) : undefined;

  // Analysis (issue 4 item 4): rules over the sealed stream raise alerts; a webhook relay sends them.
  const { policy } = deps;
  const alertsRepo = createAlertsRepo();
  const alerts = createAlertsService({ db, clock, alertsRepo });
  const webhook = deps.config.auditAlertWebhook;
  const analysis = createAuditAnalysis({
    db,
    clock,
    cipher,
    blindIndex: createBlindIndex(deps.keys.BLIND_INDEX_KEY),
    alertsRepo,
    recorder,
    rules: builtInAlertRules,
    thresholds: () => policy().audit.alerts,
    webhookEnabled: webhook !== undefined,
    logger,
  });
  const egress = webhook
    ? createEgressClient({
        mode: deps.config.mode,
        policy: () => ({ ...policy().egress, responseLimitBytes: 16 * 1024 }),
        logger,
      })
    : undefined;
  const relay = webhook && egress
    ? createAlertWebhookRelay({ db, clock, alertsRepo, egress, webhook, maxAttempts: () => policy().audit.alerts.webhookMaxAttempts, logger })
    : undefined;

  const jobs: JobDefinition[] = [auditSealJob(sealer), auditVerifyJob(watch), auditAnalysisJob(analysis), ...(relay ? [deliverAlertsJob(relay)] : [])];
  const schedules: PeriodicJob[] = [
    { name: 'audit.seal', everyMs: 2_000 },
    { name: 'audit.verify', everyMs: 300_000 },
    { name: 'audit.analyse', everyMs: 2_000 },
    ...(relay ? [{ name: 'audit.deliver-alerts', everyMs: 5_000 }] : []),
  ];

  return { recorder, http, query, sealer, verifier, watch, checkpointFile, alerts, analysis, relay, jobs, schedules };
}

export type AuditModule = ReturnType<typeof createAuditModule>;
