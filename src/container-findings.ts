import type { Clock } from './platform/clock.js';
import type { FieldCipher } from './platform/crypto/index.js';
import type { Db } from './platform/db/database.js';
import type { Tx } from './platform/db/transaction.js';
import type { Logger } from './platform/logger.js';
import type { JobQueue } from './platform/queue/index.js';
import type { AuditRecorder } from './modules/audit/audit.recorder.js';
import type { FrozenPlan } from './modules/scans/scan-contract.js';
import type { TaxonomyService } from './modules/taxonomies/taxonomy.types.js';
import { createFindingSourcesRepo } from './modules/findings/finding-sources.repo.js';
import { createFindingsDeriver } from './modules/findings/findings.derive.js';
import { createDeriveTrigger } from './modules/findings/findings.jobs.js';
import { createFindingsRepo } from './modules/findings/findings.repo.js';
import { createFindingsService } from './modules/findings/findings.service.js';

/**
 * Wires findings (issue 7 §4): the deriver behind `findings.derive-scan` and `findings.sweep`, the
 * trigger the scan engine calls as its ScanSettledListener, and the triage service. The job
 * definitions are registered before this module exists and reach it through getters.
 */
export function createFindingsModule(deps: {
  db: Db;
  cipher: FieldCipher;
  clock: Clock;
  logger: Logger;
  queue: Pick<JobQueue, 'enqueue'>;
  audit: Pick<AuditRecorder, 'record'>;
  taxonomy: Pick<TaxonomyService, 'node' | 'translate' | 'matching'>;
  /** The scan's frozen plan (scans service); read when a derivation runs. */
  loadPlan: (orgId: string, scanId: string) => Promise<Pick<FrozenPlan, 'probes'> | undefined>;
  isMember: (executor: Db | Tx, orgId: string, userId: string) => Promise<boolean>;
}) {
  const { db, cipher, clock, logger } = deps;
  const repo = createFindingsRepo({ db, cipher });
  const sources = createFindingSourcesRepo({ db });
  const deriver = createFindingsDeriver({ db, sources, findingsRepo: repo, loadPlan: deps.loadPlan, taxonomy: deps.taxonomy, audit: deps.audit, clock, logger });
  const trigger = createDeriveTrigger({ queue: deps.queue, clock, logger });
  const service = createFindingsService({ db, findingsRepo: repo, taxonomy: deps.taxonomy, isMember: deps.isMember, clock });
  return { repo, sources, deriver, trigger, service, sweep: (signal: AbortSignal) => trigger.sweep(sources, signal) };
}

export type FindingsModule = ReturnType<typeof createFindingsModule>;
