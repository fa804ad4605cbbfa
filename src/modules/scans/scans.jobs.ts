import { Type } from 'typebox';
import { definePeriodicJob } from '../../platform/jobs.js';
import { defineJob } from '../../platform/queue/index.js';
import type { PeriodicJob } from '../../platform/queue/schedule-periodic.js';
import { RUN_CHUNK_JOB, type RunChunkPayload } from './scan-contract.js';
import { RECONCILE_EVERY_MS, type ScanReconciler } from './scan-reconciler.js';

export const RECONCILE_JOB = 'scan.reconcile';

const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

/** Ids only (DESIGN §5): the worker reads everything else from the database. */
export const RunChunkPayloadSchema = Type.Object(
  {
    scanId: Type.String({ pattern: UUID_PATTERN }),
    orgId: Type.String({ pattern: UUID_PATTERN }),
    chunkIndex: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  },
  { additionalProperties: false },
);

/** The part of the chunk executor (chunk-executor.ts) the job calls. */
export interface ChunkRunner {
  run(payload: RunChunkPayload, signal: AbortSignal): Promise<void>;
}

/**
 * The scan jobs. `runner` is read when a job runs, so the registry (built before the targets and
 * scorers the executor needs) can be created first. A failed run is retried; a run after a crash is
 * safe because the executor's DB lease and the attempts' unique index make it idempotent.
 */
export function scanJobs(deps: { runner: () => ChunkRunner; reconciler: () => Pick<ScanReconciler, 'run'> }) {
  return [
    defineJob({
      name: RUN_CHUNK_JOB,
      payload: RunChunkPayloadSchema,
      attempts: 3,
      backoffMs: 2_000,
      handler: (payload, context) => deps.runner().run(payload, context.signal),
    }),
    // One attempt: the next period is the retry.
    definePeriodicJob(RECONCILE_JOB, (signal) => deps.reconciler().run(signal)),
  ];
}

export const scanSchedules = (everyMs = RECONCILE_EVERY_MS): PeriodicJob[] => [{ name: RECONCILE_JOB, everyMs }];
