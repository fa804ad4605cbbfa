import type { Clock } from '../clock.js';
import { createBullmqJobQueue } from './bullmq-queue.js';
import type { JobDefinition, JobRegistry } from './job-registry.js';
import { createMemoryJobQueue } from './memory-queue.js';
import type { JobQueue, QueueLogger } from './queue.js';

export { createBullmqJobQueue, type BullmqJobQueueOptions } from './bullmq-queue.js';
export { InvalidJobError, PermanentJobError } from './job-errors.js';
export {
  createJobRegistry,
  defineJob,
  type JobContext,
  type JobDefinition,
  type JobDefinitionInput,
  type JobPayload,
  type JobRegistry,
} from './job-registry.js';
export { createMemoryJobQueue, type MemoryJobQueueOptions } from './memory-queue.js';
export type { EnqueueOptions, JobQueue, QueueLogger } from './queue.js';

/** What the container passes to build the queue of either run mode. */
export interface CreateJobQueueOptions<D extends JobDefinition> {
  /** embedded: in-process queue; server: BullMQ on Redis (DESIGN §2). */
  mode: 'embedded' | 'server';
  /** Required in server mode. */
  redisUrl?: string;
  /** Redis key prefix (server mode only; one per deployment and per test file). */
  prefix: string;
  registry: JobRegistry<D>;
  /** Jobs this process runs at once. */
  concurrency?: number;
  /** Server mode: stalled-job check interval (tests shorten it). */
  stalledIntervalMs?: number;
  /** Server mode: job lock duration (tests shorten it). */
  lockDurationMs?: number;
  /** How long close() waits for running jobs before aborting them. */
  closeTimeoutMs?: number;
  logger?: QueueLogger;
  /** Embedded mode: decides when delayed jobs and retries are due. */
  clock?: Clock;
}

/** The one place that picks the queue adapter for the run mode; nothing else branches on it. */
export function createJobQueue<D extends JobDefinition>(options: CreateJobQueueOptions<D>): JobQueue<D> {
  const { registry, concurrency, closeTimeoutMs, logger } = options;
  if (options.mode === 'embedded') {
    return createMemoryJobQueue({ registry, concurrency, closeTimeoutMs, logger, clock: options.clock });
  }
  if (!options.redisUrl) throw new Error('The job queue needs REDIS_URL in server mode.');
  return createBullmqJobQueue({
    redisUrl: options.redisUrl,
    prefix: options.prefix,
    registry,
    concurrency,
    closeTimeoutMs,
    logger,
    stalledIntervalMs: options.stalledIntervalMs,
    lockDurationMs: options.lockDurationMs,
  });
}
