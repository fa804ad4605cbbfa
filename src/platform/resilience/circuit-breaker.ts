import CircuitBreaker from 'opossum';
import { errors, isAppError, type AppError } from '../errors.js';

/** Where a breaker stands: closed (calls pass), open (calls fail at once), half-open (one trial call passes). */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** How one dependency (Redis, PostgreSQL, a target) is protected. */
export interface CircuitBreakerOptions {
  /** Shown to clients in the 503 detail ("<name> is unavailable"), so keep it non-sensitive. */
  name: string;
  /** A call slower than this fails with 503 and counts as a failure. */
  timeoutMs: number;
  /** How long the breaker stays open before it lets one trial call through. */
  resetTimeoutMs: number;
  /** Failure rate (percent, over opossum's 10 s rolling window) above which the breaker opens. Default 50. */
  errorThresholdPercentage?: number;
  /** Calls needed in the rolling window before the breaker may open at all. Default 0. */
  volumeThreshold?: number;
  /**
   * Whether an error thrown by the call means the dependency is unhealthy. Errors it rejects pass through
   * unchanged and do not count. AppErrors with status < 500 never count, whatever this says.
   */
  isFailure?: (error: unknown) => boolean;
  /** Told on every state change, e.g. to log that a dependency went down. */
  onStateChange?: (state: BreakerState) => void;
}

/** A circuit breaker around calls to one dependency; infrastructure failures surface as AppError 503. */
export interface Breaker {
  /** Runs fn under the breaker; throws AppError 503 (with Retry-After) when open, on timeout or on failure. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  readonly state: BreakerState;
  /** Stops the breaker's timers; later calls fail with 503. */
  shutdown(): void;
}

// Errors that must not count travel through opossum as a resolved value, so the breaker sees a healthy
// call and isFailure runs exactly once per error.
type Outcome = { passed: true; value: unknown } | { passed: false; error: unknown };

export function createCircuitBreaker(options: CircuitBreakerOptions): Breaker {
  const countsAsFailure = (error: unknown): boolean => {
    if (isAppError(error) && error.status < 500) return false;
    return options.isFailure ? options.isFailure(error) : true;
  };

  const breaker = new CircuitBreaker<[() => Promise<unknown>], Outcome>(
    async (fn) => {
      try {
        return { passed: true, value: await fn() };
      } catch (error) {
        if (countsAsFailure(error)) throw error;
        return { passed: false, error };
      }
    },
    {
      name: options.name,
      timeout: options.timeoutMs,
      resetTimeout: options.resetTimeoutMs,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      volumeThreshold: options.volumeThreshold ?? 0,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    },
  );

  // opossum runs its reset timer on real time, so Retry-After is computed on real time too (not a Clock).
  let openedAtMs = 0;
  breaker.on('open', () => {
    openedAtMs = Date.now();
    options.onStateChange?.('open');
  });
  breaker.on('halfOpen', () => options.onStateChange?.('half-open'));
  breaker.on('close', () => options.onStateChange?.('closed'));

  const state = (): BreakerState => {
    if (breaker.halfOpen) return 'half-open';
    return breaker.closed ? 'closed' : 'open';
  };

  const retryAfterSeconds = (): number => {
    if (state() !== 'open') return 1;
    const remainingMs = options.resetTimeoutMs - (Date.now() - openedAtMs);
    return Math.max(1, Math.ceil(remainingMs / 1000));
  };

  const unavailable = (cause: unknown): AppError =>
    errors.unavailable(`${options.name} is unavailable`, retryAfterSeconds(), cause);

  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      let outcome: Outcome;
      try {
        outcome = await breaker.fire(fn);
      } catch (error) {
        // Open, timed out, shut down, or a counted failure: callers only ever see a 503 for those.
        // A counted AppError (status >= 500) is already safe to show, so it keeps its own code.
        if (isAppError(error)) throw error;
        throw unavailable(error);
      }
      if (!outcome.passed) throw outcome.error;
      return outcome.value as T;
    },
    get state() {
      return state();
    },
    shutdown() {
      breaker.shutdown();
    },
  };
}
