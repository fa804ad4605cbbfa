import { setMaxListeners } from 'node:events';
import type { ScanStatus } from '../../db/schema.js';
import type { Clock } from '../../platform/clock.js';
import type { Logger } from '../../platform/logger.js';
import type { ChunkLeaseRepo, ClaimedChunk } from './chunk-lease.repo.js';
import type { ScanRunState } from './scan-run.repo.js';

/**
 * The control side of one chunk run: renews the lease every heartbeatMs (a lost lease stops the run and
 * aborts its calls: someone else owns the chunk now), re-reads the scan every statusCheckMs (a cancel,
 * a pause or another worker's fail-fast stops new cells; a cancel or failure also aborts in-flight
 * calls, a pause lets them finish) and watches the wall-time budget.
 */
export type StopReason = 'budget' | 'failed' | 'status' | 'lease-lost' | 'aborted';

// In-flight calls of a paused scan may finish (their answers are stored); any other stop aborts them.
const ABORT_IN_FLIGHT: ReadonlySet<ScanStatus> = new Set(['cancelled', 'failed', 'completed', 'partial']);

export function createChunkRun(deps: {
  scan: ScanRunState;
  chunk: ClaimedChunk;
  owner: string;
  signal: AbortSignal;
  options: { leaseMs: number; heartbeatMs: number; statusCheckMs: number };
  clock: Clock;
  leases: Pick<ChunkLeaseRepo, 'renew'>;
  readState(): Promise<ScanRunState | undefined>;
  logger: Pick<Logger, 'warn'>;
}) {
  const { scan, chunk } = deps;
  const cells = new AbortController();
  // Every cell in flight listens to it (up to the target's 256 in flight, a few listeners each).
  setMaxListeners(1024, cells.signal);
  let stopReason: StopReason | undefined;
  let startedAt = scan.startedAt;
  let checking = false;

  const stop = (reason: StopReason, abortInFlight = false) => {
    stopReason ??= reason;
    if (abortInFlight && !cells.signal.aborted) cells.abort(new Error(`chunk run stopped: ${reason}`));
  };
  const onAbort = () => stop('aborted', true);
  if (deps.signal.aborted) onAbort();
  else deps.signal.addEventListener('abort', onAbort, { once: true });

  const wallExceeded = () =>
    scan.budgetMaxWallSeconds !== null && startedAt !== null && deps.clock.nowMs() >= startedAt.getTime() + scan.budgetMaxWallSeconds * 1000;
  if (wallExceeded()) stop('budget');

  const heartbeat = setInterval(() => {
    deps.leases.renew(scan.id, chunk.chunkIndex, deps.owner, deps.clock.now(), deps.options.leaseMs).then(
      (held) => {
        if (!held) stop('lease-lost', true);
      },
      // A failed renewal is not a lost lease: it may still hold until its expiry; the next beat retries.
      (error: unknown) => deps.logger.warn({ err: (error as Error).message, scanId: scan.id, chunk: chunk.chunkIndex }, 'lease renewal failed'),
    );
  }, deps.options.heartbeatMs);

  const statusCheck = setInterval(() => {
    if (checking) return;
    checking = true;
    deps
      .readState()
      .then((state) => {
        if (!state) return stop('status', true);
        startedAt = state.startedAt;
        if (state.status !== 'running' && state.status !== 'queued') stop('status', ABORT_IN_FLIGHT.has(state.status));
        if (wallExceeded()) stop('budget');
      })
      .catch((error: unknown) => deps.logger.warn({ err: (error as Error).message, scanId: scan.id }, 'scan status check failed'))
      .finally(() => (checking = false));
  }, deps.options.statusCheckMs);

  return {
    get stopped(): boolean {
      return stopReason !== undefined;
    },
    get reason(): StopReason | undefined {
      return stopReason;
    },
    /** Aborted when in-flight calls must stop (job aborted, lease lost, scan cancelled or failed). */
    cellSignal: cells.signal,
    stop,
    /** Why the scan must end as partial now, if a budget ran out (null otherwise). */
    budgetReason(totals: { requestsUsed: number }): string | null {
      if (wallExceeded()) return `The wall-time budget of ${scan.budgetMaxWallSeconds} s ran out.`;
      if (scan.budgetMaxRequests !== null && totals.requestsUsed >= scan.budgetMaxRequests) return `The request budget of ${scan.budgetMaxRequests} was used up.`;
      return null;
    },
    close(): void {
      clearInterval(heartbeat);
      clearInterval(statusCheck);
      deps.signal.removeEventListener('abort', onAbort);
    },
  };
}

export type ChunkRun = ReturnType<typeof createChunkRun>;
