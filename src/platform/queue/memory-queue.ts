import { systemClock, type Clock } from '../clock.js';
import { errors } from '../errors.js';
import { newId } from '../ids.js';
import { PermanentJobError } from './job-errors.js';
import type { JobDefinition, JobRegistry } from './job-registry.js';
import { checkEnqueueOptions, retryDelayMs, silentQueueLogger, type JobQueue, type QueueLogger } from './queue.js';
import { settlesWithin } from './with-timeout.js';

/** Options of the embedded-mode queue. */
export interface MemoryJobQueueOptions<D extends JobDefinition> {
  registry: JobRegistry<D>;
  /** Jobs running at once. Default 4. */
  concurrency?: number;
  /** How long close() waits for running jobs before aborting them. Default 10 000. */
  closeTimeoutMs?: number;
  /** After the abort, how long close() still waits for handlers to return. Default 1 000. */
  abortGraceMs?: number;
  /** How many finished job ids stay remembered for dedupe. Default 10 000. */
  dedupeWindow?: number;
  /** Decides when delayed jobs and retries are due. */
  clock?: Clock;
  logger?: QueueLogger;
}

interface QueuedJob {
  readonly id: string;
  readonly name: string;
  readonly payload: unknown;
  readonly definition: JobDefinition;
  /** Runs started so far. */
  attempt: number;
  runAtMs: number;
}

// Due times come from the injected clock, so the wake timer only polls it: at least twice a second
// while jobs are delayed, which honours a clock that jumps (suspend, NTP, a test's manual clock).
const MAX_WAKE_INTERVAL_MS = 500;

/**
 * The embedded-mode queue: the same registry and handlers as server mode, run in this process.
 * Jobs live in memory only, so jobs still waiting at close() are dropped; durable work is
 * re-enqueued from the outbox table at the next start (DESIGN §5).
 */
export function createMemoryJobQueue<D extends JobDefinition>(options: MemoryJobQueueOptions<D>): JobQueue<D> {
  const { registry } = options;
  const concurrency = options.concurrency ?? 4;
  const closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
  const abortGraceMs = options.abortGraceMs ?? 1_000;
  const dedupeWindow = options.dedupeWindow ?? 10_000;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentQueueLogger;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('concurrency must be an integer ≥ 1');

  /** Waiting, delayed, running and retrying jobs by id: the dedupe set and the drain condition. */
  const known = new Map<string, QueuedJob>();
  /** Finished ids in finishing order, trimmed to dedupeWindow (a Set iterates oldest first). */
  const finished = new Set<string>();
  const ready: QueuedJob[] = [];
  const delayed: QueuedJob[] = [];
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const idleWaiters: Array<() => void> = [];
  let wakeTimer: NodeJS.Timeout | undefined;
  let started = false;
  let closing: Promise<void> | undefined;

  const forget = (job: QueuedJob): void => {
    known.delete(job.id);
    finished.add(job.id);
    if (finished.size > dedupeWindow) {
      const oldest = finished.values().next();
      if (!oldest.done) finished.delete(oldest.value);
    }
  };

  const notifyIfIdle = (): void => {
    if (known.size > 0) return;
    for (const resolve of idleWaiters.splice(0)) resolve();
  };

  const schedule = (job: QueuedJob): void => {
    if (job.runAtMs <= clock.nowMs()) ready.push(job);
    else delayed.push(job);
  };

  const armWakeTimer = (): void => {
    clearTimeout(wakeTimer);
    wakeTimer = undefined;
    if (delayed.length === 0 || closing) return;
    const earliest = Math.min(...delayed.map((job) => job.runAtMs));
    const waitMs = Math.min(Math.max(earliest - clock.nowMs(), 1), MAX_WAKE_INTERVAL_MS);
    wakeTimer = setTimeout(pump, waitMs);
    wakeTimer.unref();
  };

  const onFailed = (job: QueuedJob, error: unknown): void => {
    const log = { jobName: job.name, jobId: job.id, attempt: job.attempt, err: error };
    if (closing) {
      logger.warn(log, 'job.dropped: it failed or was aborted while the queue closed');
      forget(job);
    } else if (error instanceof PermanentJobError || job.attempt >= job.definition.attempts) {
      logger.error({ ...log, attempts: job.definition.attempts }, 'job.failed: no attempts left');
      forget(job);
    } else {
      logger.warn(log, 'job.attempt.failed: will retry');
      job.runAtMs = clock.nowMs() + retryDelayMs(job.definition.backoffMs, job.attempt);
      schedule(job);
    }
  };

  const runJob = (job: QueuedJob): void => {
    job.attempt += 1;
    const controller = new AbortController();
    const context = { jobId: job.id, attempt: job.attempt, signal: controller.signal };
    const done = registry.run(job.name, job.payload, context).then(
      () => forget(job),
      (error: unknown) => onFailed(job, error),
    );
    running.set(job.id, { controller, done });
    void done.finally(() => {
      running.delete(job.id);
      pump();
      notifyIfIdle();
    });
  };

  function pump(): void {
    if (!started || closing) return;
    const nowMs = clock.nowMs();
    const due = delayed.filter((job) => job.runAtMs <= nowMs).sort((a, b) => a.runAtMs - b.runAtMs);
    for (const job of due) {
      delayed.splice(delayed.indexOf(job), 1);
      ready.push(job);
    }
    while (running.size < concurrency) {
      const next = ready.shift();
      if (!next) break;
      runJob(next);
    }
    armWakeTimer();
  }

  const shuttingDown = () => errors.unavailable('The job queue is shutting down.', 5);

  return {
    enqueue(name, payload, enqueueOptions = {}) {
      if (closing) return Promise.reject(shuttingDown());
      try {
        const definition = registry.prepare(name, payload);
        checkEnqueueOptions(name, enqueueOptions);
        const id = enqueueOptions.jobId ?? newId();
        if (known.has(id) || finished.has(id)) return Promise.resolve(id);
        // A JSON round trip, as Redis would do: handlers see the same shapes in both modes
        // (dates become strings) and the caller cannot mutate the job after enqueueing it.
        const json = JSON.stringify(payload);
        const stored: unknown = json === undefined ? undefined : JSON.parse(json);
        const job: QueuedJob = { id, name, payload: stored, definition, attempt: 0, runAtMs: clock.nowMs() + (enqueueOptions.delayMs ?? 0) };
        known.set(id, job);
        schedule(job);
        pump();
        return Promise.resolve(id);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },

    start() {
      if (closing) return Promise.reject(shuttingDown());
      started = true;
      pump();
      return Promise.resolve();
    },

    ping() {
      return closing ? Promise.reject(shuttingDown()) : Promise.resolve();
    },

    drain() {
      if (known.size === 0 || closing) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },

    close() {
      closing ??= (async () => {
        clearTimeout(wakeTimer);
        const dropped = ready.length + delayed.length;
        if (dropped > 0) logger.warn({ dropped }, 'queue.close: jobs still waiting are dropped');
        for (const job of [...ready.splice(0), ...delayed.splice(0)]) known.delete(job.id);
        const allDone = Promise.all([...running.values()].map((run) => run.done));
        if (!(await settlesWithin(allDone, closeTimeoutMs))) {
          logger.warn({ running: running.size, closeTimeoutMs }, 'queue.close: aborting jobs that outlived the drain timeout');
          for (const run of running.values()) run.controller.abort(new Error('The job queue is shutting down.'));
          if (!(await settlesWithin(allDone, abortGraceMs))) {
            logger.error({ running: running.size }, 'queue.close: handlers ignored the abort signal');
          }
        }
        for (const resolve of idleWaiters.splice(0)) resolve();
      })();
      return closing;
    },
  };
}
