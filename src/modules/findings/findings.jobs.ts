import { Type } from 'typebox';
import type { Clock } from '../../platform/clock.js';
import { definePeriodicJob } from '../../platform/jobs.js';
import type { Logger } from '../../platform/logger.js';
import { defineJob, type JobQueue } from '../../platform/queue/index.js';
import type { PeriodicJob } from '../../platform/queue/schedule-periodic.js';
import type { ScanStatus } from '../../db/schema.js';
import { TERMINAL_STATUSES, type ScanSettledListener } from '../scans/scan-contract.js';
import type { FindingSourcesRepo } from './finding-sources.repo.js';
import type { FindingsDeriver } from './findings.derive.js';

export const DERIVE_SCAN_JOB = 'findings.derive-scan';
export const SWEEP_JOB = 'findings.sweep';
/** How often the sweep looks for scans derivation has not caught up with. */
export const SWEEP_EVERY_MS = 10_000;
/** Scans enqueued per sweep: a backlog is worked off over several sweeps. */
export const SWEEP_BATCH = 100;
/** Listener calls for one scan within this window become one derivation, run when the window ends. */
export const DERIVE_WINDOW_MS = 1_000;
/**
 * While a scan runs, its derivations are this far apart: each one re-reads every attempt of the scan and
 * upserts every probe's finding, which at a fast target's pace (a chunk done every few hundred ms) would
 * cost the worker more than the scan itself. Its end is derived within DERIVE_WINDOW_MS.
 */
export const RUNNING_DERIVE_WINDOW_MS = 10_000;

const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

/** Ids only (DESIGN §5). */
export const DeriveScanPayload = Type.Object(
  { orgId: Type.String({ pattern: UUID_PATTERN }), scanId: Type.String({ pattern: UUID_PATTERN }) },
  { additionalProperties: false },
);

/**
 * Enqueues a derivation of a scan, coalesced per time window: the job id names the scan and the window,
 * and the job is delayed to the window's end, so every call inside a window (a chunk done, a status
 * move) is one job that runs after all of them, and a call in the next window is a new job. A lost
 * call costs at most one sweep period.
 */
export function createDeriveTrigger(deps: {
  queue: Pick<JobQueue, 'enqueue'>;
  clock: Pick<Clock, 'nowMs'>;
  logger: Pick<Logger, 'warn'>;
  windowMs?: number;
  runningWindowMs?: number;
}) {
  const endWindowMs = deps.windowMs ?? DERIVE_WINDOW_MS;
  const runningWindowMs = deps.runningWindowMs ?? RUNNING_DERIVE_WINDOW_MS;
  const enqueue = (orgId: string, scanId: string, windowMs = endWindowMs) => {
    const nowMs = deps.clock.nowMs();
    const slot = Math.floor(nowMs / windowMs);
    return deps.queue.enqueue(DERIVE_SCAN_JOB, { orgId, scanId }, { jobId: `findings-derive-${scanId}-${windowMs}-${slot}`, delayMs: (slot + 1) * windowMs - nowMs });
  };
  /** The scan engine's ScanSettledListener: best effort, never throws (the sweep catches a lost call). */
  const onSettled: ScanSettledListener = ({ orgId, scanId, status }) => {
    enqueue(orgId, scanId, TERMINAL_STATUSES.has(status as ScanStatus) ? endWindowMs : runningWindowMs).catch((error: unknown) => deps.logger.warn({ err: (error as Error).message, scanId }, 'findings derivation not enqueued; the sweep will catch up'));
  };
  /** Enqueues the scans derivation has not caught up with (the periodic sweep). */
  const sweep = async (sources: Pick<FindingSourcesRepo, 'unsynced'>, signal: AbortSignal) => {
    const pending = await sources.unsynced(SWEEP_BATCH);
    for (const { orgId, scanId } of pending) {
      if (signal.aborted) return;
      await enqueue(orgId, scanId);
    }
  };
  return { enqueue, onSettled, sweep };
}

export type DeriveTrigger = ReturnType<typeof createDeriveTrigger>;

/**
 * The findings jobs. The deriver is read when a job runs (it needs the scans service, built after the
 * registry). Derivation is idempotent, so a retry or a duplicate run changes nothing.
 */
export function findingJobs(deps: { deriver: () => Pick<FindingsDeriver, 'deriveScan'>; sweep: () => (signal: AbortSignal) => Promise<void> }) {
  return [
    defineJob({
      name: DERIVE_SCAN_JOB,
      payload: DeriveScanPayload,
      attempts: 3,
      backoffMs: 1_000,
      handler: async (payload) => {
        await deps.deriver().deriveScan(payload.orgId, payload.scanId);
      },
    }),
    definePeriodicJob(SWEEP_JOB, (signal) => deps.sweep()(signal)),
  ];
}

export const findingSchedules = (everyMs = SWEEP_EVERY_MS): PeriodicJob[] => [{ name: SWEEP_JOB, everyMs }];
