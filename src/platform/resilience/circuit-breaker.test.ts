import { afterEach, describe, expect, it, vi } from 'vitest';
import { errors, isAppError, type AppError } from '../errors.js';
import { createCircuitBreaker, type Breaker, type CircuitBreakerOptions } from './circuit-breaker.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const breakers: Breaker[] = [];
const make = (overrides: Partial<CircuitBreakerOptions> = {}): Breaker => {
  const breaker = createCircuitBreaker({ name: 'test dependency', timeoutMs: 50, resetTimeoutMs: 5_000, ...overrides });
  breakers.push(breaker);
  return breaker;
};

const caught = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
};

const expectUnavailable = (error: unknown): AppError => {
  expect(isAppError(error)).toBe(true);
  const appError = error as AppError;
  expect(appError.status).toBe(503);
  expect(appError.detail).toBe('test dependency is unavailable');
  expect(Number(appError.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  return appError;
};

const boom = () => Promise.reject(new Error('connection refused'));

afterEach(() => {
  for (const breaker of breakers.splice(0)) breaker.shutdown();
});

describe('createCircuitBreaker', () => {
  it('returns the result of a healthy call and stays closed', async () => {
    const breaker = make();
    await expect(breaker.run(() => Promise.resolve(42))).resolves.toBe(42);
    expect(breaker.state).toBe('closed');
  });

  it('turns an infrastructure failure into a 503 that keeps the cause for logs', async () => {
    const breaker = make({ volumeThreshold: 10 });
    const cause = new Error('connection refused');
    const error = expectUnavailable(await caught(breaker.run(() => Promise.reject(cause))));
    expect(error.cause).toBe(cause);
    expect(breaker.state).toBe('closed');
  });

  it('opens after failures and then fails at once without calling, with Retry-After from the reset time', async () => {
    const changes: string[] = [];
    const breaker = make({ volumeThreshold: 3, resetTimeoutMs: 3_000, onStateChange: (state) => changes.push(state) });
    for (let i = 0; i < 3; i += 1) await caught(breaker.run(boom));
    expect(breaker.state).toBe('open');
    expect(changes).toEqual(['open']);

    const fn = vi.fn(() => Promise.resolve('never'));
    const error = expectUnavailable(await caught(breaker.run(fn)));
    expect(fn).not.toHaveBeenCalled();
    expect(error.headers['retry-after']).toBe('3');
  });

  it('answers a 503 as soon as a call exceeds its timeout', async () => {
    const breaker = make({ timeoutMs: 20, volumeThreshold: 10 });
    const started = performance.now();
    expectUnavailable(await caught(breaker.run(() => new Promise(() => {}))));
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('passes client errors (AppError < 500) through unchanged without counting them', async () => {
    const breaker = make();
    const notFound = errors.notFound('target');
    for (let i = 0; i < 5; i += 1) {
      expect(await caught(breaker.run(() => Promise.reject(notFound)))).toBe(notFound);
    }
    expect(breaker.state).toBe('closed');
  });

  it('passes errors that isFailure rejects through unchanged without counting them', async () => {
    const breaker = make({ isFailure: (error) => !(error instanceof TypeError) });
    const bug = new TypeError('bad argument');
    for (let i = 0; i < 5; i += 1) expect(await caught(breaker.run(() => Promise.reject(bug)))).toBe(bug);
    expect(breaker.state).toBe('closed');
  });

  it('keeps a server-side AppError as it is but counts it as a failure', async () => {
    const breaker = make();
    const upstream = errors.unavailable('inner is unavailable', 7);
    expect(await caught(breaker.run(() => Promise.reject(upstream)))).toBe(upstream);
    expect(breaker.state).toBe('open');
  });

  it('half-opens after the reset time, closes on a successful trial and reopens on a failed one', async () => {
    const breaker = make({ resetTimeoutMs: 30 });
    await caught(breaker.run(boom));
    expect(breaker.state).toBe('open');
    await sleep(50);
    expect(breaker.state).toBe('half-open');
    await caught(breaker.run(boom));
    expect(breaker.state).toBe('open');
    await sleep(50);
    await expect(breaker.run(() => Promise.resolve('ok'))).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('rejects every call with a 503 after shutdown', async () => {
    const breaker = make();
    breaker.shutdown();
    expectUnavailable(await caught(breaker.run(() => Promise.resolve(1))));
  });
});
