import type { Clock } from '../clock.js';
import type { JobDefinition, JobPayload } from './job-registry.js';
import type { JobQueue, QueueLogger } from './queue.js';

/** A job with an empty payload that should run once per period. */
export interface PeriodicJob<N extends string = string> {
  name: N;
  /** The period; runs are aligned to multiples of it since the epoch (every process agrees on the slots). */
  everyMs: number;
}

export interface PeriodicScheduler {
  /** Enqueues every job whose current slot this process has not enqueued yet (the timer calls it). */
  tick(): void;
  stop(): void;
}

/** The longest wait between ticks: an hourly job is enqueued within a minute of its slot starting. */
const MAX_TICK_MS = 60_000;

/**
 * Enqueues periodic jobs, once per time slot across all processes: the slot number is part of the job
 * id, and the queue drops a second enqueue of a known id (BullMQ across processes, the memory queue in
 * one). This process also remembers the last slot it enqueued, so a tick between slots costs nothing.
 * A failed enqueue (Redis down) is retried at the next tick and warned about once per slot.
 */
export function schedulePeriodic<D extends JobDefinition>(
  deps: { queue: Pick<JobQueue<D>, 'enqueue'>; clock: Pick<Clock, 'nowMs'>; logger: Pick<QueueLogger, 'warn'> },
  jobs: ReadonlyArray<PeriodicJob<D['name']>>,
): PeriodicScheduler {
  for (const job of jobs) {
    if (!Number.isInteger(job.everyMs) || job.everyMs < 1_000) throw new Error(`Periodic job "${job.name}": everyMs must be an integer ≥ 1000.`);
  }
  const enqueued = new Map<string, number>();
  const warned = new Map<string, number>();
  const inFlight = new Set<string>();

  const tick = (): void => {
    const nowMs = deps.clock.nowMs();
    for (const { name, everyMs } of jobs) {
      const slot = Math.floor(nowMs / everyMs);
      if (enqueued.get(name) === slot || inFlight.has(name)) continue;
      inFlight.add(name);
      deps.queue
        .enqueue(name, {} as JobPayload<D, typeof name>, { jobId: `${name}-${slot}` })
        .then(
          () => void enqueued.set(name, slot),
          (error: unknown) => {
            if (warned.get(name) === slot) return;
            warned.set(name, slot);
            deps.logger.warn({ err: error, jobName: name }, 'could not schedule a periodic job; retrying at the next tick');
          },
        )
        .finally(() => inFlight.delete(name));
    }
  };

  const tickMs = Math.min(MAX_TICK_MS, ...jobs.map((job) => job.everyMs));
  const timer = setInterval(tick, tickMs);
  timer.unref();
  tick();
  return { tick, stop: () => clearInterval(timer) };
}
