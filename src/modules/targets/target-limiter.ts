import type { Clock } from '../../platform/clock.js';
import { isEgressError } from '../../platform/egress/egress-error.js';
import type { AdmissionKeys, Store, StoreLogger } from '../../platform/stores/store.js';
import { TargetCallError, type SendOnce, type TargetCallResult, type TargetExchange, type TargetLimiter, type TargetLimits } from './target-call.js';

/**
 * The per-target limiter (issue 5 §2), shared by every scan and every process through the Store:
 * - not-before floor: a Retry-After that any process received holds back every process (raiseFloor,
 *   measured on the store's clock). A floor longer than the target's backoffMaxMs fails the call at once
 *   (target_retries_exhausted) instead of parking it: the scan engine decides whether to wait that long.
 * - in-flight slots: store leases (a sorted set scored by expiry in Redis) with a TTL, renewed while the
 *   exchange runs, so a dead process's slots come back after leaseTtlMs. A local FIFO gate admits at most
 *   maxInFlight callers per process to compete for them, so waiting costs few store round trips.
 * - rate: GCRA with a burst of one second's worth of requestsPerMinute.
 * Floor, slot and rate token are checked and taken by ONE store call (admit: one Redis round trip), so a
 * token is spent only together with a free slot right before its exchange, and a caller that must wait
 * holds neither meanwhile. Per exchange: one admit, one release.
 * - retries: capped exponential backoff with full jitter, never earlier than Retry-After (delta-seconds
 *   or HTTP-date). Fatal statuses, refused destinations and the caller's abort stop at once.
 * A store outage rejects the call with the store's 503 AppError (fail closed: no unlimited traffic).
 */

// Ending a private timer needs no DOMException (an abort without a reason builds one, with a stack, each time).
const CLEARED = new Error('timer cleared');

/** A store with just what the limiter uses. */
export type LimiterStore = Pick<Store, 'admit' | 'renewLease' | 'releaseLease' | 'raiseFloor'>;

/** Waits ms; rejects with signal.reason when the signal aborts. Injectable so unit tests use virtual time. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface TargetLimiterDeps {
  store: LimiterStore;
  clock: Clock;
  sleep?: Sleep;
  /** Uniform in [0, 1): backoff and poll jitter. */
  random?: () => number;
  logger?: StoreLogger;
  /** Namespace of the limiter's store keys. Default 'target-limit'. */
  keyPrefix?: string;
  /** How long an in-flight slot outlives a process that stopped renewing it. Default 15 s. */
  leaseTtlMs?: number;
}

/** The longest a Retry-After may hold every caller of a target back (a hostile target cannot park it longer). */
export const MAX_FLOOR_MS = 10 * 60_000;
const MIN_POLL_MS = 5;
const MAX_LEASE_POLL_MS = 250;
const TARGET_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// Refusals are configuration problems (no retry helps); timeouts and network failures may pass.
const RETRYABLE_EGRESS = new Set(['egress_timeout', 'egress_network']);

/** Why a signal aborted, as an Error (an AbortSignal's default reason is a DOMException, which is one). */
const reasonOf = (signal: AbortSignal): Error => (signal.reason instanceof Error ? signal.reason : new Error('aborted', { cause: signal.reason }));

export const defaultSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(reasonOf(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(reasonOf(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Milliseconds a Retry-After value asks for (delta-seconds or HTTP-date), or null when absent or unreadable. */
export function parseRetryAfterMs(value: string | readonly string[] | undefined, nowMs: number): number | null {
  const raw = (typeof value === 'string' ? value : value?.[0])?.trim();
  if (!raw) return null;
  if (/^\d{1,10}$/.test(raw)) return Math.min(Number(raw) * 1000, Number.MAX_SAFE_INTEGER);
  // An HTTP-date (all three RFC 9110 forms) starts with a day name; Date.parse alone accepts '1.5' or '-1'.
  const at = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/.test(raw) ? Date.parse(raw) : Number.NaN;
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

// Store errors carry no secrets (the Redis URL never reaches a message), so the message alone is logged.
const errorOf = (error: unknown) => ({ message: error instanceof Error ? error.message : String(error) });
const isInt = (value: number, min: number, max: number) => Number.isInteger(value) && value >= min && value <= max;

// The schemas validate limits on input; this stops a bug from turning into a tight loop or a flood.
function checkLimits(limits: TargetLimits): void {
  const problems = [
    !isInt(limits.requestsPerMinute, 1, 1_000_000) && 'requestsPerMinute',
    !isInt(limits.maxInFlight, 1, 10_000) && 'maxInFlight',
    !isInt(limits.timeoutMs, 1, 3_600_000) && 'timeoutMs',
    !isInt(limits.maxRetries, 0, 100) && 'maxRetries',
    !isInt(limits.backoffBaseMs, 0, 3_600_000) && 'backoffBaseMs',
    !(isInt(limits.backoffMaxMs, 0, 3_600_000) && limits.backoffMaxMs >= limits.backoffBaseMs) && 'backoffMaxMs',
  ].filter(Boolean);
  if (problems.length > 0) throw new RangeError(`invalid target limits: ${problems.join(', ')}`);
}

/** Why an attempt produced no exchange. */
interface AttemptFailure {
  error: unknown;
  timedOut: boolean;
}

class AttemptTimeout extends Error {
  constructor() {
    super('The target did not answer within its timeout.');
    this.name = 'AttemptTimeout';
  }
}

export function createTargetLimiter(deps: TargetLimiterDeps): TargetLimiter {
  const { store, clock, logger } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const random = deps.random ?? Math.random;
  const keyPrefix = deps.keyPrefix ?? 'target-limit';
  const leaseTtlMs = deps.leaseTtlMs ?? 15_000;
  const gate = createLocalGate();

  const stop = (code: TargetCallError['code'], message: string, attempts: number, extra: { exchange?: TargetExchange; cause?: unknown } = {}) =>
    new TargetCallError(code, message, { attempts, ...extra });

  /** Waits until the floor has passed, a slot is free and a rate token is available; returns the slot's lease. */
  const admit = async (keys: AdmissionKeys, limits: TargetLimits, attempts: number, signal: AbortSignal | undefined): Promise<string> => {
    const burst = Math.ceil(limits.requestsPerMinute / 60);
    const rule = { limit: burst, windowSeconds: (burst * 60) / limits.requestsPerMinute };
    for (let slotPollMs = MIN_POLL_MS; ; ) {
      const admission = await store.admit(keys, limits.maxInFlight, leaseTtlMs, rule);
      if (admission.admitted) return admission.token;
      if (admission.reason === 'floor') {
        if (admission.waitMs > limits.backoffMaxMs) {
          throw stop('target_retries_exhausted', 'The target asked callers to wait longer than its backoff limit allows.', attempts);
        }
        await sleep(admission.waitMs, signal);
      } else if (admission.reason === 'slots') {
        // Another process holds the slots: its release is not announced, so poll with growing, jittered sleeps.
        await sleep(slotPollMs + Math.floor(random() * slotPollMs), signal);
        slotPollMs = Math.min(MAX_LEASE_POLL_MS, slotPollMs * 2);
      } else {
        await sleep(Math.ceil(Math.max(MIN_POLL_MS, admission.waitMs) * (1 + random() * 0.25)), signal);
      }
    }
  };

  // Keeps the lease alive until `done` aborts; a lapsed lease is logged (the slot may be another's now).
  const keepRenewing = async (key: string, token: string, done: AbortSignal) => {
    for (;;) {
      try {
        await sleep(Math.max(1, Math.floor(leaseTtlMs / 3)), done);
      } catch {
        return;
      }
      try {
        const renewed = await store.renewLease(key, token, leaseTtlMs);
        if (!renewed) {
          logger?.warn({ leaseKey: key }, 'target in-flight lease lapsed before the exchange ended');
          return;
        }
      } catch (error) {
        logger?.warn({ leaseKey: key, err: errorOf(error) }, 'target lease renewal failed');
      }
    }
  };

  const attempt = async (send: SendOnce, timeoutMs: number, signal: AbortSignal | undefined): Promise<TargetExchange | AttemptFailure> => {
    const controller = new AbortController();
    const forward = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    if (signal?.aborted) forward();
    const timerDone = new AbortController();
    let timedOut = false;
    sleep(timeoutMs, timerDone.signal).then(
      () => {
        timedOut = true;
        controller.abort(new AttemptTimeout());
      },
      () => undefined,
    );
    // An adapter that ignores its signal must not hold the call (or the slot) past the deadline.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(reasonOf(controller.signal)), { once: true });
      if (controller.signal.aborted) reject(reasonOf(controller.signal));
    });
    const sent = Promise.resolve().then(() => send(controller.signal));
    aborted.catch(() => undefined);
    sent.catch(() => undefined);
    try {
      return await Promise.race([sent, aborted]);
    } catch (error) {
      return { error, timedOut };
    } finally {
      timerDone.abort(CLEARED);
      signal?.removeEventListener('abort', forward);
    }
  };

  const backoffMs = (retry: number, limits: TargetLimits) =>
    Math.floor(random() * Math.min(limits.backoffMaxMs, limits.backoffBaseMs * 2 ** Math.min(retry, 30)));

  return {
    async call(targetId, limits, send, options = {}): Promise<TargetCallResult> {
      if (!TARGET_ID.test(targetId)) throw new RangeError('invalid target id');
      checkLimits(limits);
      const { signal } = options;
      const key = `${keyPrefix}:${targetId}`;
      const keys: AdmissionKeys = { floor: `${key}:floor`, lease: `${key}:lease`, rate: `${key}:rate` };
      const aborted = (attempts: number, cause?: unknown) => stop('target_call_aborted', 'The call was cancelled.', attempts, { cause });

      for (let attempts = 0; ; ) {
        let outcome: TargetExchange | AttemptFailure;
        let retryAfterMs: number | null = null;
        try {
          signal?.throwIfAborted();
          await gate.enter(key, limits.maxInFlight, signal);
        } catch (error) {
          throw signal?.aborted ? aborted(attempts, error) : error;
        }
        try {
          const token = await admit(keys, limits, attempts, signal);
          const renewal = new AbortController();
          const renewing = keepRenewing(keys.lease, token, renewal.signal);
          try {
            if (attempts === 0) await options.beforeFirstSend?.();
            attempts += 1;
            outcome = await attempt(send, limits.timeoutMs, signal);
            if ('status' in outcome && limits.retryStatuses.includes(outcome.status)) {
              retryAfterMs = parseRetryAfterMs(outcome.headers['retry-after'], clock.nowMs());
              // Raised before the slot goes back, so whoever gets the slot next is already held back by it.
              if (retryAfterMs !== null && retryAfterMs > 0) await store.raiseFloor(keys.floor, Math.min(MAX_FLOOR_MS, Math.ceil(retryAfterMs)));
            }
          } finally {
            renewal.abort(CLEARED);
            await renewing;
            // Not awaited: the answer is not held for a store round trip. This process's next admission
            // goes out on the same store connection after it, so it still sees the slot free.
            void store.releaseLease(keys.lease, token).catch((error: unknown) => logger?.warn({ leaseKey: keys.lease, err: errorOf(error) }, 'target lease release failed; it lapses by TTL'));
          }
        } catch (error) {
          throw signal?.aborted ? aborted(attempts, error) : error;
        } finally {
          gate.exit(key, limits.maxInFlight);
        }

        let waitMs: number;
        if ('status' in outcome) {
          const { status } = outcome;
          if (limits.fatalStatuses.includes(status)) {
            throw stop('target_fatal_status', `The target answered ${status}; the call stops without retrying.`, attempts, { exchange: outcome });
          }
          if (!limits.retryStatuses.includes(status)) return { exchange: outcome, attempts };
          if (attempts > limits.maxRetries) {
            throw stop('target_retries_exhausted', `The target answered ${status} on every one of ${attempts} attempts.`, attempts, { exchange: outcome });
          }
          if (retryAfterMs !== null && retryAfterMs > limits.backoffMaxMs) {
            throw stop('target_retries_exhausted', 'The target asked callers to wait longer than its backoff limit allows.', attempts, { exchange: outcome });
          }
          waitMs = Math.max(backoffMs(attempts - 1, limits), retryAfterMs ?? 0);
        } else {
          const { error, timedOut } = outcome;
          if (signal?.aborted) throw aborted(attempts, error);
          const retryable = timedOut || (isEgressError(error) && RETRYABLE_EGRESS.has(error.code));
          if (isEgressError(error) && !retryable) {
            // Denied address, bad URL, oversized response or invalid request: retrying cannot help.
            throw stop('target_egress_refused', error.message, attempts, { cause: error });
          }
          if (!retryable) throw error;
          if (attempts > limits.maxRetries) {
            const why = timedOut ? 'did not answer in time' : 'could not be reached';
            throw stop('target_retries_exhausted', `The target ${why} on every one of ${attempts} attempts.`, attempts, { cause: error });
          }
          waitMs = backoffMs(attempts - 1, limits);
        }
        if (options.mayRetry && !options.mayRetry()) {
          const last = 'status' in outcome ? { exchange: outcome } : { cause: outcome.error };
          throw stop('target_retries_exhausted', `No retry after attempt ${attempts}: the request budget is used up.`, attempts, last);
        }
        try {
          if (waitMs > 0) await sleep(waitMs, signal);
        } catch (error) {
          throw aborted(attempts, error);
        }
      }
    },
  };
}

/** Per-process FIFO admission per target: at most `limit` callers compete for the shared slots at once. */
function createLocalGate() {
  const gates = new Map<string, { active: number; waiters: Array<() => void> }>();
  return {
    enter(key: string, limit: number, signal: AbortSignal | undefined): Promise<void> {
      const gate = gates.get(key) ?? { active: 0, waiters: [] };
      gates.set(key, gate);
      if (gate.active < limit && gate.waiters.length === 0) {
        gate.active += 1;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const admit = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          gate.waiters.splice(gate.waiters.indexOf(admit), 1);
          if (gate.active === 0 && gate.waiters.length === 0) gates.delete(key);
          reject(reasonOf(signal!));
        };
        gate.waiters.push(admit);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    // The permit passes straight to the next waiter, so a newcomer cannot overtake the queue.
    exit(key: string, limit: number): void {
      const gate = gates.get(key);
      if (!gate) return;
      gate.active -= 1;
      while (gate.active < limit && gate.waiters.length > 0) {
        gate.active += 1;
        gate.waiters.shift()!();
      }
      if (gate.active === 0 && gate.waiters.length === 0) gates.delete(key);
    },
  };
}
