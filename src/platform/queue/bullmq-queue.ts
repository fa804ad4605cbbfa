import { once } from 'node:events';
import { Queue, UnrecoverableError, WaitingError, Worker, type Job, type KeepJobs } from 'bullmq';
import { Redis } from 'ioredis';
import { errors } from '../errors.js';
import { PermanentJobError } from './job-errors.js';
import type { JobDefinition, JobRegistry } from './job-registry.js';
import { checkEnqueueOptions, silentQueueLogger, type JobQueue, type QueueLogger } from './queue.js';
import { settlesWithin, withTimeout } from './with-timeout.js';

/** Options of the server-mode queue. */
export interface BullmqJobQueueOptions<D extends JobDefinition> {
  redisUrl: string;
  /** Redis key prefix of every BullMQ key: one per deployment, and one per test file. */
  prefix: string;
  registry: JobRegistry<D>;
  /** BullMQ queue name shared by producers and workers; the BullMQ job name is the registry name. Default "jobs". */
  queueName?: string;
  /** Jobs one worker process runs at once. Default 4. */
  concurrency?: number;
  /** How often workers look for jobs whose worker died (BullMQ stalledInterval). Default 30 000. */
  stalledIntervalMs?: number;
  /** How long a running job's lock lasts between renewals (BullMQ lockDuration). Default 30 000. */
  lockDurationMs?: number;
  /** Time limit of enqueue and ping round trips. Default 2 000. */
  commandTimeoutMs?: number;
  /** How long start() waits for the worker's Redis connection. Default 10 000. */
  startTimeoutMs?: number;
  /** How long close() waits for running jobs before aborting them. Default 10 000. */
  closeTimeoutMs?: number;
  /** After the abort, how long close() still waits for handlers to return. Default 1 000. */
  abortGraceMs?: number;
  logger?: QueueLogger;
}

// Finished jobs are kept (bounded) so operators can inspect them and jobId dedupe outlives the run.
const KEEP_COMPLETED: KeepJobs = { count: 1_000, age: 24 * 3600 };
const KEEP_FAILED: KeepJobs = { count: 5_000, age: 7 * 24 * 3600 };
const RETRY_AFTER_SECONDS = 5;

const unavailable = (cause?: unknown) => errors.unavailable('The job queue is unavailable.', RETRY_AFTER_SECONDS, cause);

/**
 * The server-mode queue: BullMQ on Redis, so any number of worker processes share the jobs.
 * Producing needs no worker: API processes create this and never call start().
 */
export function createBullmqJobQueue<D extends JobDefinition>(options: BullmqJobQueueOptions<D>): JobQueue<D> {
  const { registry, prefix, redisUrl } = options;
  const queueName = options.queueName ?? 'jobs';
  const commandTimeoutMs = options.commandTimeoutMs ?? 2_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
  const abortGraceMs = options.abortGraceMs ?? 1_000;
  const logger = options.logger ?? silentQueueLogger;

  // The producer fails fast (DESIGN §9): no offline queue, no retry of an in-flight command, a
  // command timeout. An enqueue during an outage answers 503 at once instead of hanging a request.
  const producer = new Redis(redisUrl, {
    connectionName: `${prefix}:producer`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
  });
  watchConnection(producer, 'producer', logger);
  const queue = new Queue(queueName, { connection: producer, prefix, defaultJobOptions: { removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED } });
  queue.on('error', (error) => logger.warn({ err: error, queueName }, 'queue.producer.error'));

  let workerConnection: Redis | undefined;
  let worker: Worker | undefined;
  let closing: Promise<void> | undefined;
  /** Set when close() aborts running jobs, so their failure is not charged as an attempt. */
  let abortingForShutdown = false;
  let producerWasReady = false;
  producer.once('ready', () => {
    producerWasReady = true;
  });

  // Right after start-up the first connect may still be under way: wait for it (bounded). Once the
  // producer has been ready, a lost connection fails the call at once (the outage is known).
  const producerReady = async (): Promise<void> => {
    if (producer.status === 'ready') return;
    if (producerWasReady || closing) throw unavailable();
    try {
      await once(producer, 'ready', { signal: AbortSignal.timeout(commandTimeoutMs) });
    } catch (error) {
      throw unavailable(error);
    }
  };

  // BullMQ passes the AbortSignal only to processors that declare three parameters.
  const processor = async (job: Job, token?: string, signal?: AbortSignal): Promise<void> => {
    const context = { jobId: job.id ?? '', attempt: job.attemptsMade + 1, signal: signal ?? new AbortController().signal };
    try {
      await registry.run(job.name, job.data, context);
    } catch (error) {
      if (error instanceof PermanentJobError) throw new UnrecoverableError(error.message);
      if (abortingForShutdown && signal?.aborted) {
        // Back to waiting without spending an attempt: another worker runs it again (handlers are idempotent).
        await job.moveToWait(token);
        throw new WaitingError();
      }
      throw error;
    }
  };

  const startWorker = async (): Promise<void> => {
    // The worker needs its own connection with maxRetriesPerRequest: null (BullMQ's blocking
    // commands must wait through reconnects); BullMQ duplicates it for the blocking fetch.
    workerConnection = new Redis(redisUrl, { connectionName: `${prefix}:worker`, maxRetriesPerRequest: null });
    watchConnection(workerConnection, 'worker', logger);
    const created = new Worker(queueName, processor, {
      connection: workerConnection,
      prefix,
      concurrency: options.concurrency ?? 4,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      lockDuration: options.lockDurationMs ?? 30_000,
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    });
    worker = created;
    created.on('error', (error) => logger.warn({ err: error, queueName }, 'queue.worker.error'));
    created.on('failed', (job, error) => {
      if (!job) return;
      const gaveUp = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      const log = { jobName: job.name, jobId: job.id, attempt: job.attemptsMade, err: error };
      if (gaveUp) logger.error(log, 'job.failed: no attempts left');
      else logger.warn(log, 'job.attempt.failed: will retry');
    });
    await withTimeout(created.waitUntilReady(), options.startTimeoutMs ?? 10_000, () => unavailable());
  };

  const quit = async (connection: Redis): Promise<void> => {
    if (connection.status === 'end') return;
    if (connection.status !== 'ready' || !(await settlesWithin(connection.quit(), commandTimeoutMs))) connection.disconnect();
  };

  const closeWorker = async (current: Worker): Promise<void> => {
    const closed = current.close();
    closed.catch((error: unknown) => logger.warn({ err: error }, 'queue.worker.close.error'));
    if (await settlesWithin(closed, closeTimeoutMs)) return;
    logger.warn({ closeTimeoutMs }, 'queue.close: aborting jobs that outlived the drain timeout');
    abortingForShutdown = true;
    current.cancelAllJobs('The job queue is shutting down.');
    if (await settlesWithin(closed, abortGraceMs)) return;
    logger.error({}, 'queue.close: handlers ignored the abort signal; their locks will expire and the jobs run again');
    await settlesWithin(current.disconnect(), commandTimeoutMs);
  };

  return {
    async enqueue(name, payload, enqueueOptions = {}) {
      if (closing) throw errors.unavailable('The job queue is shutting down.', RETRY_AFTER_SECONDS);
      const definition = registry.prepare(name, payload);
      checkEnqueueOptions(name, enqueueOptions);
      await producerReady();
      try {
        const added = queue.add(name, payload, {
          jobId: enqueueOptions.jobId,
          delay: enqueueOptions.delayMs,
          attempts: definition.attempts,
          backoff: { type: 'exponential', delay: definition.backoffMs },
        });
        const job = await withTimeout(added, commandTimeoutMs, () => new Error('enqueue timed out'));
        if (job.id === undefined) throw new Error('BullMQ returned a job without an id');
        return job.id;
      } catch (error) {
        throw unavailable(error);
      }
    },

    async start() {
      if (closing) throw errors.unavailable('The job queue is shutting down.', RETRY_AFTER_SECONDS);
      if (worker) return;
      await startWorker();
    },

    async ping() {
      if (closing) throw errors.unavailable('The job queue is shutting down.', RETRY_AFTER_SECONDS);
      await producerReady();
      try {
        await withTimeout(producer.ping(), commandTimeoutMs, () => new Error('ping timed out'));
      } catch (error) {
        throw unavailable(error);
      }
    },

    close() {
      closing ??= (async () => {
        if (worker) await closeWorker(worker);
        if (!(await settlesWithin(queue.close(), commandTimeoutMs))) logger.warn({}, 'queue.close: producer did not close in time');
        await Promise.all([workerConnection, producer].filter((c) => c !== undefined).map(quit));
      })();
      return closing;
    },
  };
}

/** Logs a connection going down once per outage, not once per reconnect attempt. */
function watchConnection(connection: Redis, role: string, logger: QueueLogger): void {
  let down = false;
  connection.on('error', (error: unknown) => {
    if (down) return;
    down = true;
    logger.warn({ err: error, role }, 'queue.redis.unreachable');
  });
  connection.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ role }, 'queue.redis.reconnected');
  });
}
