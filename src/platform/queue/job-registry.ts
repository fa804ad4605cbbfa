import type { Static, TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { InvalidJobError, PermanentJobError } from './job-errors.js';

/** What a handler learns about the run it is part of. */
export interface JobContext {
  /** Stable across retries; equal to the dedupe key when the job was enqueued with one. */
  readonly jobId: string;
  /** 1 on the first run, then 2, 3, ... on retries (a run after a crash may repeat a number). */
  readonly attempt: number;
  /** Aborted when the queue shuts down and the run outlives the drain timeout: stop and throw. */
  readonly signal: AbortSignal;
}

/**
 * One kind of background job: its name, the schema of its payload and its handler.
 *
 * Handlers MUST be idempotent. A job may run more than once: after a failed attempt, after a worker
 * crash or lost lock (BullMQ moves the stalled job back to waiting), or when a shutdown aborts it.
 * Write handlers so a second run converges on the same result (upserts, "already done" checks,
 * chunked progress stored in the database), and keep each run short (about 10 s, DESIGN §5) so
 * shutdown can drain it.
 */
export interface JobDefinition<N extends string = string, S extends TSchema = TSchema> {
  readonly name: N;
  /** Validated when enqueued and again when dequeued. Payloads hold ids only, never plaintext PII. */
  readonly payload: S;
  /** Runs including the first one; 1 means never retried. */
  readonly attempts: number;
  /** Exponential backoff base: retry n waits backoffMs × 2^(n-1). */
  readonly backoffMs: number;
  // Method syntax on purpose: it keeps definitions with narrower payloads assignable to JobDefinition.
  handler(payload: Static<S>, context: JobContext): Promise<void>;
}

/** What `defineJob` accepts: a definition whose retry policy may be left to the defaults. */
export interface JobDefinitionInput<N extends string, S extends TSchema> {
  name: N;
  payload: S;
  handler: (payload: Static<S>, context: JobContext) => Promise<void>;
  /** Defaults to 3. */
  attempts?: number;
  /** Defaults to 1000. */
  backoffMs?: number;
}

/** The payload type of job `N` among the definitions `D` (distributes over D, so a definition with a plain `string` name still types its payload). */
export type JobPayload<D extends JobDefinition, N extends D['name']> = D extends JobDefinition ? (N extends D['name'] ? Static<D['payload']> : never) : never;

/** The one table of jobs a process knows: name → payload schema → handler. */
export interface JobRegistry<D extends JobDefinition = JobDefinition> {
  readonly definitions: readonly D[];
  /** The definition registered under `name`, if any. */
  find(name: string): D | undefined;
  /** Enqueue-side check: returns the definition or throws InvalidJobError (unknown name, bad payload). */
  prepare(name: string, payload: unknown): D;
  /**
   * Dequeue-side run shared by every adapter: validates the payload again (it may have been
   * written by an older or newer release) and calls the handler. An unknown name or invalid
   * payload throws PermanentJobError, so the job fails without retries.
   */
  run(name: string, payload: unknown, context: JobContext): Promise<void>;
}

const DEFAULT_ATTEMPTS = 3;
const DEFAULT_BACKOFF_MS = 1000;
// Lower-case words joined by single "." or "-": safe as Redis job names, log fields and metric labels.
const JOB_NAME_CHARS = /^[a-z][a-z0-9.-]{0,99}$/;
const isJobName = (name: string): boolean => JOB_NAME_CHARS.test(name) && !/[.-][.-]|[.-]$/.test(name);

/** Declares a job; the literal name and the schema's static type flow into the registry's enqueue. */
export function defineJob<const N extends string, S extends TSchema>(input: JobDefinitionInput<N, S>): JobDefinition<N, S> {
  const attempts = input.attempts ?? DEFAULT_ATTEMPTS;
  const backoffMs = input.backoffMs ?? DEFAULT_BACKOFF_MS;
  if (!isJobName(input.name)) {
    throw new Error(`Job name "${input.name}" must be lower-case words joined by "." or "-" (e.g. "scans.run-chunk").`);
  }
  if (!Number.isInteger(attempts) || attempts < 1) throw new Error(`Job "${input.name}": attempts must be an integer ≥ 1.`);
  if (!Number.isFinite(backoffMs) || backoffMs < 0) throw new Error(`Job "${input.name}": backoffMs must be ≥ 0.`);
  const { handler } = input;
  return {
    name: input.name,
    payload: input.payload,
    attempts,
    backoffMs,
    handler: (payload, context) => handler(payload, context),
  };
}

/** Schema violations as "pointer: rule" lines; the offending values are left out on purpose. */
export function payloadProblems(schema: TSchema, payload: unknown): string[] {
  if (Value.Check(schema, payload)) return [];
  return Value.Errors(schema, payload).map((error) => `${error.instancePath || '/'}: ${error.message}`);
}

/** Builds the registry from every job definition of the process; a name defined twice is refused. */
export function createJobRegistry<D extends JobDefinition>(definitions: readonly D[]): JobRegistry<D> {
  const byName = new Map<string, D>();
  for (const definition of definitions) {
    if (byName.has(definition.name)) throw new Error(`Job "${definition.name}" is defined twice.`);
    byName.set(definition.name, definition);
  }

  return {
    definitions: [...definitions],
    find: (name) => byName.get(name),
    prepare(name, payload) {
      const definition = byName.get(name);
      if (!definition) throw new InvalidJobError(name, `No job named "${name}" is registered`);
      const problems = payloadProblems(definition.payload, payload);
      if (problems.length > 0) throw new InvalidJobError(name, `Payload of job "${name}" does not match its schema`, problems);
      return definition;
    },
    async run(name, payload, context) {
      const definition = byName.get(name);
      if (!definition) throw new PermanentJobError(`No job named "${name}" is registered in this process.`);
      const problems = payloadProblems(definition.payload, payload);
      if (problems.length > 0) {
        throw new PermanentJobError(`Dequeued payload of job "${name}" does not match its schema: ${problems.join('; ')}`);
      }
      await definition.handler(payload, context);
    },
  };
}
