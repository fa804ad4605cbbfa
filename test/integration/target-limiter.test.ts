import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_TARGET_LIMITS, type SendOnce, type TargetLimits } from '../../src/modules/targets/target-call.js';
import { createTargetLimiter } from '../../src/modules/targets/target-limiter.js';
import { systemClock } from '../../src/platform/clock.js';
import { createMemoryStore } from '../../src/platform/stores/memory-store.js';
import { createRedisStore } from '../../src/platform/stores/redis-store.js';
import { startOpenAiMock, type MockServer } from '../fakes/openai-mock.js';
import { redisUrl, uniqueName } from '../setup/environment.js';
import { startJsonLinesProcess } from '../setup/json-lines-process.js';
import { deleteRedisKeys } from '../setup/wait.js';
import { floorViolations, observeStore, runLoad, type FloorRaise, type LoadReport } from './fixtures/limiter-load.js';

/**
 * Issue 5 acceptance: the per-target limit holds under concurrency from two processes on real Redis. One
 * OpenAI-compatible mock (20-50 ms latency, every 20th request a 429 with Retry-After: 1) is hit by two
 * limiters at once: as two real processes on Redis, and as two limiters on one memory store (embedded).
 * The mock's own counters prove the in-flight cap; its arrival times against the floor raises prove that
 * no request came earlier than a Retry-After allowed (exactly, see floorViolations).
 */
const WORKER = 'test/integration/fixtures/limiter-worker.ts';
const CALLS_PER_PROCESS = 40;
const LEASE_TTL_MS = 3_000;
const RETRY_AFTER_GRACE_MS = 250;
const LIMITS: TargetLimits = {
  ...DEFAULT_TARGET_LIMITS,
  requestsPerMinute: 3_000,
  maxInFlight: 4,
  timeoutMs: 5_000,
  maxRetries: 6,
  backoffBaseMs: 50,
  backoffMaxMs: 5_000,
};

let mock: MockServer;

beforeAll(async () => {
  mock = await startOpenAiMock({ latencyMs: [20, 50] });
  mock.setBehaviour((request) => (request.id % 20 === 0 ? { kind: 'rateLimited', retryAfter: '1' } : { kind: 'answer', text: 'fine' }));
});

afterAll(async () => {
  await mock.close();
});

beforeEach(() => {
  mock.reset();
});

/**
 * The mock's own view, independent of the limiter's instrumentation: after each 429 it sent, requests
 * arriving more than `graceMs` later but before its Retry-After ran out. The grace covers only requests
 * already on their way when the 429 left (sent before any process could know of it).
 */
function earlyAfterRateLimit(graceMs: number) {
  const early: Array<{ requestId: number; afterMs: number }> = [];
  for (const response of mock.stats.responses.filter((candidate) => candidate.status === 429)) {
    for (const request of mock.requests) {
      const afterMs = request.arrivedAtMs - response.sentAtMs;
      if (afterMs > graceMs && afterMs < 1_000) early.push({ requestId: request.id, afterMs });
    }
  }
  return early;
}

function expectLimitsHeld(reports: LoadReport[], floors: FloorRaise[], startedAtMs: number): void {
  for (const report of reports) expect(report.outcomes).toEqual({ ok: CALLS_PER_PROCESS });
  const rateLimited = mock.stats.responses.filter((response) => response.status === 429).length;
  expect(rateLimited).toBeGreaterThan(0);
  expect(floors).toHaveLength(rateLimited); // each 429 was shared by the process that received it
  // Real concurrency happened, and never above the cap.
  expect(mock.stats.maxInFlight).toBeGreaterThan(1);
  expect(mock.stats.maxInFlight).toBeLessThanOrEqual(LIMITS.maxInFlight);
  expect(floorViolations(mock.requests, floors)).toEqual([]);
  expect(earlyAfterRateLimit(RETRY_AFTER_GRACE_MS)).toEqual([]);
  // GCRA with one second of burst: never more than burst + elapsed / interval requests in all.
  const burst = Math.ceil(LIMITS.requestsPerMinute / 60);
  const elapsedMs = Math.max(...mock.stats.arrivals) - startedAtMs;
  expect(mock.stats.total).toBeLessThanOrEqual(burst + Math.ceil(elapsedMs / (60_000 / LIMITS.requestsPerMinute)) + 1);
}

describe('embedded mode: two limiters on one memory store', () => {
  it('[ASVS 2.4.1] keeps the in-flight cap and every Retry-After within one process', async () => {
    const store = createMemoryStore({ clock: systemClock });
    const observer = observeStore(store);
    const options = { mockUrl: mock.url, targetId: 'mock-embedded', calls: CALLS_PER_PROCESS, limits: LIMITS };
    const startedAtMs = Date.now();
    try {
      const reports = await Promise.all(
        [1, 2].map(() => runLoad(createTargetLimiter({ store: observer.observed, clock: systemClock, leaseTtlMs: LEASE_TTL_MS }), observer, options)),
      );
      expectLimitsHeld(reports, observer.floors, startedAtMs);
    } finally {
      await store.close();
    }
  });
});

/** A worker process and the JSON events it prints. */
const startWorker = (config: Record<string, unknown>) => startJsonLinesProcess(WORKER, { LIMITER_WORKER_CONFIG: JSON.stringify(config) });

describe.runIf(Boolean(redisUrl()))('server mode: two processes on Redis', () => {
  const url = redisUrl()!;
  const prefix = uniqueName('tlim');
  const base = { redisUrl: url, prefix, leaseTtlMs: LEASE_TTL_MS };
  const workers: Array<ReturnType<typeof startWorker>> = [];
  let holder: ReturnType<typeof startWorker>;

  beforeAll(() => {
    // Started now, so its start-up overlaps the load test: it takes every slot of its own target and
    // hangs, to be killed in the second test.
    holder = startWorker({ ...base, mode: 'hold', mockUrl: mock.url, targetId: 'held-target', calls: 2, limits: { ...LIMITS, maxInFlight: 2, timeoutMs: 60_000 } });
    workers.push(holder);
  });

  afterAll(async () => {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await Promise.all(workers.map((worker) => worker.exited));
    const admin = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      await deleteRedisKeys(admin, prefix);
    } finally {
      await admin.quit();
    }
  });

  it('[ASVS 2.4.1] the mock never sees more than the in-flight maximum, nor a request before a Retry-After allows', async () => {
    const startedAtMs = Date.now();
    const load = [1, 2].map(() =>
      startWorker({ ...base, mode: 'load', mockUrl: mock.url, targetId: 'mock-shared', calls: CALLS_PER_PROCESS, limits: LIMITS }),
    );
    workers.push(...load);
    const reports = (await Promise.all(load.map((worker) => worker.event('report')))) as unknown as LoadReport[];
    expectLimitsHeld(reports, reports.flatMap((report) => report.floors), startedAtMs);
  });

  it("[ASVS 2.4.1] gives a killed process's in-flight slots back after the lease TTL", async () => {
    await holder.event('holding');
    const killedAtMs = Date.now();
    holder.child.kill('SIGKILL');
    await holder.exited;
    const store = await createRedisStore({ url, prefix });
    try {
      const limiter = createTargetLimiter({ store, clock: systemClock, leaseTtlMs: LEASE_TTL_MS });
      let sentAtMs = 0;
      const send: SendOnce = () => {
        sentAtMs = Date.now();
        return Promise.resolve({ status: 200, headers: {}, body: Buffer.alloc(0), text: 'ok', latencyMs: 0 });
      };
      await limiter.call('held-target', { ...LIMITS, maxInFlight: 2 }, send);
      // The dead process renewed every TTL/3, so its leases outlived it by at least 2/3 of the TTL
      // (less a scheduling margin), and came back within the TTL plus the longest lease poll.
      expect(sentAtMs - killedAtMs).toBeGreaterThanOrEqual(LEASE_TTL_MS / 3);
      expect(sentAtMs - killedAtMs).toBeLessThanOrEqual(LEASE_TTL_MS + 1_000);
    } finally {
      await store.close();
    }
  });
});
