import type { Clock } from '../../platform/clock.js';
import type { Logger } from '../../platform/logger.js';
import type { RunChunkPayload } from './scan-contract.js';
import type { ScansRepo } from './scans.repo.js';

/** How often the reconciler runs (scan.reconcile is a periodic job). */
export const RECONCILE_EVERY_MS = 30_000;
/** Idle chunks looked at per pass: a backlog is worked off over several passes, never in one huge read. */
export const RECONCILE_BATCH = 1_000;
/**
 * An idle chunk untouched this long gets a fresh run slot (job id) instead of its current one: the
 * job of the current slot may have finished without claiming the chunk (it failed before the claim,
 * or ran while the scan was paused), and a finished job id is never run again. A second job for a
 * chunk whose first is still waiting costs one no-op run: the DB lease admits one runner at a time.
 */
export const STALE_CHUNK_MS = 5 * 60_000;

export interface ReconcileReport {
  /** Idle chunks seen (pending, no live lease, scan queued or running). */
  idle: number;
  /** Enqueue calls that succeeded (the queue drops a slot it already knows, so most are no-ops). */
  enqueued: number;
  /** Chunks given a fresh run slot because they had been idle for STALE_CHUNK_MS. */
  renewed: number;
  failed: number;
}

/**
 * The outbox relay for scan chunks (issue 6 §1-2): finds pending chunks of queued or running scans
 * that no worker holds (no lease, or an expired one: the worker died) and feeds them to the queue
 * again under their run slot's job id. This is how a lost enqueue (the API died between COMMIT and
 * enqueue, Redis was down) and a dead worker's chunk come back. Re-enqueueing a slot the queue
 * still knows (waiting, running, recently finished) is a no-op, so "no live job" needs no lookup.
 */
export function createScanReconciler(deps: {
  scansRepo: Pick<ScansRepo, 'idleChunks' | 'renewChunk'>;
  enqueueChunk: (payload: RunChunkPayload, runs: number) => Promise<unknown>;
  clock: Clock;
  logger: Pick<Logger, 'warn' | 'info'>;
  staleChunkMs?: number;
}) {
  const staleMs = deps.staleChunkMs ?? STALE_CHUNK_MS;

  return {
    async run(signal?: AbortSignal): Promise<ReconcileReport> {
      const now = deps.clock.now();
      const chunks = await deps.scansRepo.idleChunks(now, RECONCILE_BATCH);
      const report: ReconcileReport = { idle: chunks.length, enqueued: 0, renewed: 0, failed: 0 };
      for (const chunk of chunks) {
        if (signal?.aborted) break;
        let runs: number | undefined = chunk.runs;
        if (now.getTime() - chunk.updatedAt.getTime() >= staleMs) {
          // Undefined: a worker claimed it (or it finished) since the read, so there is nothing to do.
          runs = await deps.scansRepo.renewChunk(chunk.scanId, chunk.chunkIndex, chunk.runs, now);
          if (runs === undefined) continue;
          report.renewed += 1;
        }
        try {
          await deps.enqueueChunk({ scanId: chunk.scanId, orgId: chunk.orgId, chunkIndex: chunk.chunkIndex }, runs);
          report.enqueued += 1;
        } catch (error) {
          report.failed += 1;
          // The queue is down: every later enqueue would fail the same way; the next pass retries.
          deps.logger.warn({ err: (error as Error).message, scanId: chunk.scanId, chunk: chunk.chunkIndex }, 'scan chunk not re-enqueued');
          break;
        }
      }
      if (report.renewed > 0 || report.failed > 0) deps.logger.info({ ...report }, 'scan chunks reconciled');
      return report;
    },
  };
}

export type ScanReconciler = ReturnType<typeof createScanReconciler>;
