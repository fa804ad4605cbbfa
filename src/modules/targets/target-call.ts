/**
 * The contract between a target's adapter (how one exchange is made), the per-target limiter (when
 * an exchange may be made, and whether to try again) and their callers: `POST /targets/{id}/test`,
 * the LLM-judge scorer and, later, the scan engine.
 */

/** One exchange with a target, whatever its kind; made once, never retried by the adapter. */
export interface TargetExchange {
  /** HTTP status; simulations use the same codes (429, 503, ...). */
  status: number;
  /** Response headers as received (lower-case names). */
  headers: Readonly<Record<string, string | string[]>>;
  /** The exact response bytes, within the egress size limit. */
  body: Buffer;
  /** The model's answer extracted from the body; null when the status is not 2xx or extraction found nothing. */
  text: string | null;
  /** Why extraction failed, when it did (safe to show: no body content). */
  extractionError?: string;
  /** Wall time of this one exchange. */
  latencyMs: number;
}

/** A target version's rate-limit policy (issue 5 §2); shared by every scan and every process at once. */
export interface TargetLimits {
  /** Requests started per minute (GCRA on the shared store). */
  requestsPerMinute: number;
  /** Exchanges in flight at once across all processes (leases with a TTL in server mode). */
  maxInFlight: number;
  /** One exchange's deadline. */
  timeoutMs: number;
  /** Retries after the first exchange (0: never retry). */
  maxRetries: number;
  /** Statuses that are retried with capped exponential backoff and jitter, honouring Retry-After. */
  retryStatuses: readonly number[];
  /** Statuses that stop at once with a clear reason (default 401, 403, 404). */
  fatalStatuses: readonly number[];
  /** First backoff and its cap. */
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export const DEFAULT_TARGET_LIMITS: TargetLimits = {
  requestsPerMinute: 60,
  maxInFlight: 4,
  timeoutMs: 30_000,
  maxRetries: 3,
  retryStatuses: [408, 425, 429, 500, 502, 503, 504],
  fatalStatuses: [401, 403, 404],
  backoffBaseMs: 500,
  backoffMaxMs: 30_000,
};

/** The request an exchange sends, as evidence: credential values already replaced by `[redacted]`. */
export interface SentRequest {
  method: string;
  url: string;
  headers: Readonly<Record<string, string>>;
  body?: string;
}

/** What a limited call produced: the last exchange and how many were made. */
export interface TargetCallResult {
  exchange: TargetExchange;
  /** Exchanges made, the first included (retries = attempts - 1). */
  attempts: number;
}

/** Why a call gave up; stable codes the scan engine branches on. */
export type TargetCallFailure =
  /** A fatal status (401, 403, 404 by default): stop the scan, do not retry. */
  | 'target_fatal_status'
  /** A retryable status or error persisted through every retry. */
  | 'target_retries_exhausted'
  /** The egress client refused the destination (denied address, bad URL): a configuration problem, never retried. */
  | 'target_egress_refused'
  /** The caller's signal aborted (scan cancelled, shutdown). */
  | 'target_call_aborted';

/** Thrown by the limiter; `message` is safe to show (no URL, header or body content). */
export class TargetCallError extends Error {
  readonly code: TargetCallFailure;
  /** The last exchange, when one was made (a fatal or exhausted status). */
  readonly exchange: TargetExchange | undefined;
  readonly attempts: number;
  /** The request the failed call sent (redacted), when the sender can tell; set by the send path. */
  request: SentRequest | undefined;

  constructor(code: TargetCallFailure, message: string, options: { exchange?: TargetExchange; attempts: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'TargetCallError';
    this.code = code;
    this.exchange = options.exchange;
    this.attempts = options.attempts;
  }
}

export const isTargetCallError = (value: unknown): value is TargetCallError => value instanceof TargetCallError;

/** Makes one exchange; aborts when `signal` fires. Egress failures reject with EgressError. */
export type SendOnce = (signal: AbortSignal) => Promise<TargetExchange>;

/**
 * Runs exchanges for one target under its limits: waits for a rate token, an in-flight slot and any
 * Retry-After the target gave (to any process), retries what is retryable, stops on what is fatal.
 */
export interface TargetLimiter {
  call(targetId: string, limits: TargetLimits, send: SendOnce, options?: TargetCallOptions): Promise<TargetCallResult>;
}

export interface TargetCallOptions {
  signal?: AbortSignal;
  /**
   * Asked before every retry; false ends the call as target_retries_exhausted. A scan's request
   * budget counts retries, so a retry must be paid for before it is sent, not after (issue 6 §1).
   */
  mayRetry?: () => boolean;
  /**
   * Awaited once the first exchange is admitted, before its first byte leaves (not before retries):
   * a scan's "sent" mark is written while admission runs instead of before it.
   */
  beforeFirstSend?: () => Promise<void>;
}

/** What a caller may add to a call besides the signal (scans: the budget and the sent mark). */
export type CallHooks = Omit<TargetCallOptions, 'signal'>;
