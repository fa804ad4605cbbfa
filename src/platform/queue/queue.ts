import type { Logger } from '../logger.js';
import { InvalidJobError } from './job-errors.js';
import type { JobDefinition, JobPayload } from './job-registry.js';

/** Per-call options of `enqueue`. */
export interface EnqueueOptions {
  /**
   * Dedupe key: while a job with this id is known to the queue (waiting, running, retrying or
   * recently finished), enqueueing it again does nothing and returns the same id. Letters, digits,
   * ".", "_" and "-" only, at most 200 characters, not all digits (BullMQ reserves numeric ids and ":").
   */
  jobId?: string;
  /** Run no earlier than this many milliseconds from now. */
  delayMs?: number;
}

/**
 * The job queue both run modes share (DESIGN §2, §5). Services depend on `Pick<JobQueue, 'enqueue'>`;
 * the container decides which adapter stands behind it, so nothing else branches on the mode.
 */
export interface JobQueue<D extends JobDefinition = JobDefinition> {
  /**
   * Validates the payload against the job's schema and stores the job; resolves to its id.
   * Throws InvalidJobError for a caller bug, and AppError 503 when the queue is closed or its
   * backend unreachable (it fails fast, it never waits for a reconnect).
   */
  enqueue<N extends D['name']>(name: N, payload: JobPayload<D, N>, options?: EnqueueOptions): Promise<string>;
  /** Begins processing jobs. API processes in server mode never call it: they only enqueue. */
  start(): Promise<void>;
  /** Readiness: resolves when the backend answers within its timeout, else throws AppError 503. */
  ping(): Promise<void>;
  /**
   * Resolves once no job is waiting, delayed, running or due for retry (call it after start()).
   * Only an in-process queue can know this; a distributed one leaves it out.
   */
  drain?(): Promise<void>;
  /**
   * Stops taking jobs, waits for running ones up to the close timeout, aborts the rest through
   * their AbortSignal, then closes connections. Safe to call more than once. Server mode puts an
   * aborted job back to waiting for another worker; embedded mode drops it with the other waiting jobs.
   */
  close(): Promise<void>;
}

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Shared option checks, so a call valid in embedded mode is valid in server mode too. */
export function checkEnqueueOptions(name: string, options: EnqueueOptions): void {
  const problems: string[] = [];
  const { jobId, delayMs } = options;
  if (jobId !== undefined && (!JOB_ID.test(jobId) || /^\d+$/.test(jobId))) {
    problems.push('jobId: must be 1–200 letters, digits, ".", "_" or "-", starting with a letter or digit, and not all digits');
  }
  if (delayMs !== undefined && !(Number.isFinite(delayMs) && delayMs >= 0)) problems.push('delayMs: must be a finite number ≥ 0');
  if (problems.length > 0) throw new InvalidJobError(name, `Options of job "${name}" are not valid`, problems);
}

/** Retry n (1-based) of a job waits backoffMs × 2^(n-1): the same rule BullMQ's "exponential" backoff applies. */
export const retryDelayMs = (backoffMs: number, failedAttempt: number): number => Math.round(backoffMs * 2 ** (failedAttempt - 1));

/** The logger methods the adapters use (a pino Logger fits). */
export type QueueLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export const silentQueueLogger: QueueLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
