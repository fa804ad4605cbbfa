/**
 * A job that cannot be enqueued as asked: unknown name, a payload that fails its schema, or bad
 * options. It is a bug in the caller (a service), never a user error, so the HTTP layer renders it
 * as a generic 500; `problems` are for the log and hold JSON pointers and rule names, never values
 * (payloads may be attacker-influenced and must not leak into logs verbatim).
 */
export class InvalidJobError extends Error {
  readonly jobName: string;
  readonly problems: readonly string[];

  constructor(jobName: string, summary: string, problems: readonly string[] = []) {
    super(problems.length > 0 ? `${summary}: ${problems.join('; ')}` : summary);
    this.name = 'InvalidJobError';
    this.jobName = jobName;
    this.problems = problems;
  }
}

/**
 * Thrown when retrying cannot help (a dequeued payload that no longer fits its schema, a job name
 * this process does not know, or a handler that finds its input permanently unusable): the job
 * fails at once, without its remaining attempts.
 */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentJobError';
  }
}
