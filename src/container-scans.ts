import type { Clock } from './platform/clock.js';
import type { FieldCipher } from './platform/crypto/index.js';
import type { Db } from './platform/db/database.js';
import type { Logger } from './platform/logger.js';
import { PermanentJobError, type JobQueue } from './platform/queue/index.js';
import type { Store } from './platform/stores/index.js';
import type { ConverterService } from './modules/converters/converters.service.js';
import type { DatasetProbeSource } from './modules/probes/probe-contract.js';
import { createProbesRepo } from './modules/probes/probes.repo.js';
import { createProbesService } from './modules/probes/probes.service.js';
import type { TaxonomyService } from './modules/taxonomies/taxonomy.types.js';
import type { ScorerService } from './modules/scorers/scorers.service.js';
import type { TargetsService } from './modules/targets/targets.service.js';
import type { SendToVersion, VersionInfoLoader } from './modules/scans/cell-runner.js';
import { createChunkExecutor, type ChunkExecutorOptions } from './modules/scans/chunk-executor.js';
import { createScanEventHub, createScanEventLog, createScanEventReader } from './modules/scans/scan-events.js';
import { createScanEventStreams } from './modules/scans/scan-events.routes.js';
import { createAttemptsQueryRepo } from './modules/scans/attempts-query.repo.js';
import { createAttemptsService } from './modules/scans/attempts.service.js';
import { createScanReconciler } from './modules/scans/scan-reconciler.js';
import { createScansRepo } from './modules/scans/scans.repo.js';
import { createScansService } from './modules/scans/scans.service.js';
import type { ScanSettledListener } from './modules/scans/scan-contract.js';

/**
 * Wires the scan engine (issue 6): the probe library (issue 7; `probes.seedShipped()` runs at start), the scans service (plans, lifecycle,
 * the chunk outbox), the event log, the chunk executor that runs `scan.run-chunk` jobs and the
 * reconciler behind `scan.reconcile`. The job definitions (scans.jobs.ts) are registered before this
 * module exists and reach it through getters, because the executor needs targets and scorers, which
 * the container builds after the queue.
 */
export function createScansModule(deps: {
  db: Db;
  cipher: FieldCipher;
  store: Store;
  clock: Clock;
  logger: Logger;
  queue: Pick<JobQueue, 'enqueue'>;
  targets: Pick<TargetsService, 'get'>;
  scorers: Pick<ScorerService, 'score' | 'validate'>;
  /** The one converter service (the preview route uses it too). */
  converters: ConverterService;
  /** Taxonomy refs of probe selections and the library's mappings (taxonomies module). */
  taxonomies: Pick<TaxonomyService, 'isValidRef' | 'matching'>;
  /** Dataset items as plan probes (datasets module); without it, selecting datasets is refused. */
  datasets?: DatasetProbeSource;
  /** The send path to a FROZEN target version and what the executor must know of it (targets module). */
  sendToVersion: SendToVersion;
  versionInfo: VersionInfoLoader;
  executorOptions?: Partial<ChunkExecutorOptions>;
  /** Told when a scan's stored attempts may prove something new (the findings module derives from them). */
  onSettled?: ScanSettledListener;
}) {
  const { db, cipher, store, clock, logger } = deps;
  const { converters } = deps;
  const probes = createProbesService({
    db,
    repo: createProbesRepo({ db }),
    taxonomies: deps.taxonomies,
    scorers: deps.scorers,
    converters,
    ...(deps.datasets ? { datasets: deps.datasets } : {}),
    now: () => clock.now(),
  });
  const scansRepo = createScansRepo({ db, cipher });
  const events = createScanEventLog({ store, logger });
  const service = createScansService({ db, scansRepo, targets: deps.targets, probes, converters, scorers: deps.scorers, events, queue: deps.queue, clock, logger, ...(deps.onSettled ? { onSettled: deps.onSettled } : {}) });
  const reconciler = createScanReconciler({ scansRepo, enqueueChunk: service.enqueueChunk, clock, logger });
  const executor = createChunkExecutor({
    db,
    cipher,
    store,
    events,
    clock,
    logger,
    async loadPlan(orgId, scanId) {
      const plan = await service.loadPlan(orgId, scanId);
      // The scan row is gone or belongs to no such organisation: retrying cannot help.
      if (!plan) throw new PermanentJobError(`Scan ${scanId} has no plan in organisation ${orgId}.`);
      return plan;
    },
    sendToVersion: deps.sendToVersion,
    versionInfo: deps.versionInfo,
    converters,
    scorers: deps.scorers,
    ...(deps.onSettled ? { onSettled: deps.onSettled } : {}),
    ...(deps.executorOptions ? { options: deps.executorOptions } : {}),
  });
  // Reads (S3): attempts and evidence, and the event streams (one store subscription per process).
  const attemptsQuery = createAttemptsQueryRepo({ db, cipher });
  const attempts = createAttemptsService({ attemptsRepo: attemptsQuery });
  const eventStreams = createScanEventStreams({
    hub: createScanEventHub({ store }),
    reader: createScanEventReader({ db }),
    scans: attemptsQuery,
    store,
    logger,
  });
  return { probes, converters, service, events, reconciler, executor, repo: scansRepo, attempts, eventStreams };
}

export type ScansModule = ReturnType<typeof createScansModule>;
