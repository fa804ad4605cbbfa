import { hostname } from 'node:os';
import type { ScanStatus } from '../../db/schema.js';
import type { Clock } from '../../platform/clock.js';
import type { FieldCipher } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import { newId } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import type { Store } from '../../platform/stores/index.js';
import type { ConverterService } from '../converters/converters.service.js';
import type { ScorerService } from '../scorers/scorers.service.js';
import { createAttemptBatcher, type ScanTotals } from './attempt-batcher.js';
import { createAttemptsRepo } from './attempts.repo.js';
import { createCellRunner, FatalTargetError, type SendToVersion, type VersionInfoLoader } from './cell-runner.js';
import { createChunkLeaseRepo, type ClaimedChunk } from './chunk-lease.repo.js';
import { createChunkRun } from './chunk-run.js';
import { createLaneGate } from './lane-gate.js';
import { cellAt, type FrozenPlan, type RunChunkPayload, type ScanEventLog, type ScanSettledListener } from './scan-contract.js';
import { createScanRunRepo, type ScanRunState } from './scan-run.repo.js';
import { createSentMarks, forgetMarks, markedCells } from './sent-marks.js';

/**
 * The `scan.run-chunk` job (issue 6 §1-3): claim the chunk's DB lease, skip the cells that already have
 * an attempt, run the rest concurrently up to the target version's maxInFlight (the limiter enforces the
 * global cap), store them in batches, then mark the chunk done and, after the last chunk, the scan.
 * Idempotent by construction: the lease admits one runner at a time, the unique index one attempt per
 * cell, and the counters add only inserted rows. A cell marked "sent" in the store by a run that never
 * stored it is re-sent and counted as a retry (at most maxInFlight such cells per dead worker).
 */

/** Timings and sizes; the defaults are the design's, tests and operators shorten them through the container. */
export interface ChunkExecutorOptions {
  /** Lease length; a dead worker's chunk comes back this long after its last renewal. */
  leaseMs: number;
  heartbeatMs: number;
  /** How often a run re-reads the scan's status and budgets (cancel, pause, fail-fast by another worker). */
  statusCheckMs: number;
  batchMaxRows: number;
  progressEveryMs: number;
  sentMarkTtlSeconds: number;
}

export const DEFAULT_CHUNK_EXECUTOR_OPTIONS: ChunkExecutorOptions = {
  leaseMs: 30_000,
  heartbeatMs: 10_000,
  statusCheckMs: 1_000,
  batchMaxRows: 200,
  progressEveryMs: 1_000,
  sentMarkTtlSeconds: 3_600,
};

export interface ChunkExecutorDeps {
  db: Db;
  cipher: FieldCipher;
  store: Pick<Store, 'setMany' | 'getMany' | 'deleteMany'>;
  events: ScanEventLog;
  clock: Clock;
  logger: Pick<Logger, 'warn' | 'info'>;
  /** The scan's frozen plan, decrypted (the scans module owns its storage). */
  loadPlan(orgId: string, scanId: string): Promise<FrozenPlan>;
  sendToVersion: SendToVersion;
  versionInfo: VersionInfoLoader;
  converters: Pick<ConverterService, 'apply' | 'decode'>;
  scorers: Pick<ScorerService, 'score'>;
  /** Told after a chunk is done and after every status move (the findings module derives from them). */
  onSettled?: ScanSettledListener;
  options?: Partial<ChunkExecutorOptions>;
}

const RUNNABLE: ReadonlySet<ScanStatus> = new Set(['queued', 'running']);

export function createChunkExecutor(deps: ChunkExecutorDeps) {
  const merged = { ...DEFAULT_CHUNK_EXECUTOR_OPTIONS, ...deps.options };
  // At least three renewals per lease: one slow or failed renewal must not lose it.
  const options = { ...merged, heartbeatMs: Math.max(100, Math.min(merged.heartbeatMs, Math.floor(merged.leaseMs / 3))) };
  const attemptsRepo = createAttemptsRepo({ db: deps.db, cipher: deps.cipher });
  const leases = createChunkLeaseRepo({ db: deps.db });
  const scanRunRepo = createScanRunRepo({ db: deps.db });
  const runner = createCellRunner(deps);
  const gate = createLaneGate();
  const workerId = `${hostname()}:${process.pid}`;

  /** A guarded status change and its 'status' event in one transaction; followers woken after COMMIT. */
  async function moveScan(scan: ScanRunState, status: 'running' | 'completed' | 'partial' | 'failed', reason: string | null): Promise<boolean> {
    const now = deps.clock.now();
    const moved = await deps.db.transaction().execute(async (tx) => {
      await scanRunRepo.lock(tx, scan.id);
      const changed =
        status === 'running'
          ? await scanRunRepo.start(tx, scan.id, now)
          : await scanRunRepo.finish(tx, scan.id, status, status === 'failed' ? ['queued', 'running', 'paused'] : ['running'], reason, now);
      if (changed) await deps.events.append(tx, { scanId: scan.id, orgId: scan.orgId, type: 'status', data: { status, ...(reason ? { reason } : {}) } });
      return changed;
    });
    if (moved) {
      await deps.events.notify(scan.id);
      deps.onSettled?.({ orgId: scan.orgId, scanId: scan.id, status });
    }
    return moved;
  }

  async function execute(scan: ScanRunState, chunk: ClaimedChunk, owner: string, signal: AbortSignal): Promise<void> {
    if (scan.status === 'queued') await moveScan(scan, 'running', null);
    const plan = await deps.loadPlan(scan.orgId, scan.id);
    const target = await deps.versionInfo(scan.orgId, plan.target.versionId);
    const stored = await attemptsRepo.storedCells(scan.id, chunk.cellStart, chunk.cellEnd);
    const unstored: number[] = [];
    for (let cell = chunk.cellStart; cell < chunk.cellEnd; cell += 1) if (!stored.has(cell)) unstored.push(cell);
    const resent = await markedCells(deps.store, scan.id, unstored);
    const sentMarks = createSentMarks({ store: deps.store, scanId: scan.id, ttlSeconds: options.sentMarkTtlSeconds });

    let totals: ScanTotals = { attemptsDone: scan.attemptsDone, cellsTotal: scan.cellsTotal, requestsUsed: scan.requestsUsed };
    const batcher = createAttemptBatcher({
      db: deps.db,
      clock: deps.clock,
      attemptsRepo,
      events: deps.events,
      scan: { orgId: scan.orgId, scanId: scan.id },
      options: { maxRows: options.batchMaxRows, progressEveryMs: options.progressEveryMs },
      onTotals: (next, written) => {
        totals = next;
        for (const outcome of written) requestsStarted -= reserved(outcome.cell.index);
      },
    });
    const run = createChunkRun({
      scan,
      chunk,
      owner,
      signal,
      options,
      clock: deps.clock,
      leases,
      readState: () => scanRunRepo.state(scan.orgId, scan.id),
      logger: deps.logger,
    });

    let fatal: FatalTargetError | undefined;
    let failure: unknown;
    // Requests reserved by cells whose outcome is not in the totals yet: one per cell, plus every retry
    // it was allowed (retriesOf), so neither a new cell nor a retry can spend past the budget.
    let requestsStarted = 0;
    const retriesOf = new Map<number, number>();
    const reserved = (cell: number) => {
      const retries = retriesOf.get(cell) ?? 0;
      retriesOf.delete(cell);
      return 1 + retries;
    };
    const queue = [...unstored];
    const budgetLeft = () => scan.budgetMaxRequests === null || totals.requestsUsed + requestsStarted < scan.budgetMaxRequests;
    const reserveRetry = (cell: number) => () => {
      if (!budgetLeft()) return false;
      requestsStarted += 1;
      retriesOf.set(cell, (retriesOf.get(cell) ?? 0) + 1);
      return true;
    };
    const lane = async () => {
      while (queue.length > 0 && !run.stopped && !batcher.failed) {
        if (!(await gate.enter(plan.target.id, target.limits.maxInFlight, run.cellSignal))) return;
        const index = run.stopped || batcher.failed || !budgetLeft() ? undefined : queue.shift();
        if (index === undefined) {
          gate.exit(plan.target.id);
          if (!budgetLeft()) run.stop('budget');
          return;
        }
        // Counted until its outcome is in the totals (onTotals), so the budget check never counts it twice.
        requestsStarted += 1;
        let handedOver = false;
        try {
          const outcome = await runner.run(
            {
              orgId: scan.orgId,
              plan,
              target,
              previouslySent: resent.has(index),
              markSent: () => sentMarks.mark(index),
              ...(scan.budgetMaxRequests === null ? {} : { mayRetry: reserveRetry(index) }),
            },
            cellAt(plan, index),
            run.cellSignal,
          );
          if (outcome) {
            handedOver = true;
            await batcher.add(outcome);
          }
        } catch (error) {
          if (error instanceof FatalTargetError) {
            fatal ??= error;
            handedOver = true;
            await batcher.add(error.outcome).catch((stored: unknown) => (failure ??= stored));
          } else {
            failure ??= error;
          }
          run.stop('failed', true);
        } finally {
          if (!handedOver) requestsStarted -= reserved(index);
          gate.exit(plan.target.id);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, Math.min(target.limits.maxInFlight, unstored.length)) }, lane));
      await batcher.flush();
    } finally {
      run.close();
    }
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error('chunk run failed', { cause: failure });
    if (fatal) {
      await moveScan(scan, 'failed', `The target refused the scan (${fatal.outcome.errorCode ?? 'fatal'}${fatal.outcome.statusCode ? ` ${fatal.outcome.statusCode}` : ''}).`);
      return;
    }
    const budget = run.budgetReason(totals);
    const left = (await attemptsRepo.storedCells(scan.id, chunk.cellStart, chunk.cellEnd)).size < chunk.cellEnd - chunk.cellStart;
    if (left) {
      // Operators see why a chunk went back to pending (ids and counts only).
      deps.logger.info({ scanId: scan.id, chunk: chunk.chunkIndex, reason: run.reason ?? 'unfinished', run: chunk.runs }, 'chunk run stopped early');
      if (budget) await moveScan(scan, 'partial', budget);
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('chunk run aborted');
      return;
    }
    await leases.markDone(scan.id, chunk.chunkIndex, deps.clock.now());
    // Every cell is stored, so its mark has done its job; a failure only leaves them to their TTL.
    await forgetMarks(deps.store, scan.id, chunk.cellStart, chunk.cellEnd).catch((error: unknown) => {
      deps.logger.warn({ err: (error as Error).message, scanId: scan.id, chunk: chunk.chunkIndex }, 'could not drop sent marks; they lapse by TTL');
    });
    deps.onSettled?.({ orgId: scan.orgId, scanId: scan.id, status: 'chunk-done' });
    if (budget && (await leases.pendingCount(scan.id)) > 0) await moveScan(scan, 'partial', budget);
    else await moveScan(scan, 'completed', null);
  }

  return {
    /** Runs one chunk; returns quietly when the scan is not runnable or another worker holds the chunk. */
    async run(payload: RunChunkPayload, signal: AbortSignal): Promise<void> {
      const scan = await scanRunRepo.state(payload.orgId, payload.scanId);
      if (!scan || !RUNNABLE.has(scan.status)) return;
      const owner = `${workerId}:${newId()}`;
      const chunk = await leases.claim(scan.id, payload.chunkIndex, owner, deps.clock.now(), options.leaseMs);
      if (!chunk) return;
      try {
        await execute(scan, chunk, owner, signal);
      } finally {
        // A no-op once the chunk is done; otherwise the next run may claim it without waiting out the lease.
        await leases.release(scan.id, chunk.chunkIndex, owner, deps.clock.now()).catch((error: unknown) => {
          deps.logger.warn({ err: (error as Error).message, scanId: scan.id, chunk: chunk.chunkIndex }, 'could not release a chunk lease');
        });
      }
    },
  };
}

export type ChunkExecutor = ReturnType<typeof createChunkExecutor>;
