import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { promptOf, startOpenAiMock, type MockServer } from '../fakes/openai-mock.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { attemptsOf, buildExecutor, createMockTarget, createVersionAdapter, defaultOrgId, insertScan, numberedProbes, runPendingChunks, scanRow, type HarnessBase } from './fixtures/scan-harness.js';
import { expectExactlyOnce, requestsPerCell } from './fixtures/scan-checks.js';
import { markedCells } from '../../src/modules/scans/sent-marks.js';
import { describeRealWorkers } from './fixtures/scan-real-workers.js';
import { describeWorkerKill } from './fixtures/scan-worker-kill.js';

/**
 * Issue 6 §2 and §6: one stored attempt per plan cell, never two, none missing, however a run is
 * interrupted; at most maxInFlight cells are sent again, and those count as retries. Plus the target's
 * answers end to end against the OpenAI-compatible mock: 429 with Retry-After, timeouts, 401 (fatal:
 * the scan fails fast). Both modes run the executor in this process; server mode adds the two-process
 * run with a SIGKILL (scan-worker-kill.ts).
 */
const MAX_IN_FLIGHT = 8;
const FAST_LIMITS = { requestsPerMinute: 6_000, maxInFlight: MAX_IN_FLIGHT, timeoutMs: 5_000, maxRetries: 3, backoffBaseMs: 50, backoffMaxMs: 3_000 };

let t: TestApp;
let base: HarnessBase;
let adapter: ReturnType<typeof createVersionAdapter>;
let mock: MockServer;
let orgId: string;

beforeAll(async () => {
  // This file runs chunks itself; the container's own queue (embedded mode) and reconciler would race it.
  t = await createTestApp({ overrides: { runJobs: false } });
  base = { db: t.container.db, cipher: t.container.cipher, store: t.container.store, clock: t.container.clock, mode: t.config.mode };
  adapter = createVersionAdapter(base, { leaseTtlMs: 3_000 });
  mock = await startOpenAiMock({ latencyMs: 50 });
  orgId = await defaultOrgId(t.container.db);
});

afterAll(async () => {
  adapter.close();
  await mock.close();
  await t.close();
});

beforeEach(async () => {
  // A cancelled or failed run aborts its calls; one already written may reach the mock only now.
  await mock.quiet();
  mock.reset();
  mock.setBehaviour(() => ({ kind: 'answer', text: 'I cannot help with that.' }));
});

describe('exactness with an in-process executor', () => {
  it('[ASVS 2.3.3] a run aborted mid-chunk and run again stores every cell exactly once; re-sends are retries', async () => {
    const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: FAST_LIMITS });
    const scan = await insertScan(base, { orgId, target, probes: numberedProbes(120), chunkSize: 40 });
    const executor = buildExecutor(base, adapter, { heartbeatMs: 200, statusCheckMs: 100 });

    // Interrupt the first chunk once a few of its requests are in flight (what a shutdown does).
    const interrupt = new AbortController();
    const watcher = setInterval(() => mock.stats.total >= 20 && interrupt.abort(new Error('shutdown')), 5);
    await expect(executor.run({ scanId: scan.scanId, orgId, chunkIndex: 0 }, interrupt.signal)).rejects.toThrow('shutdown');
    clearInterval(watcher);
    const partial = await attemptsOf(t.container.db, scan.scanId);
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(40);

    await runPendingChunks(base, executor, orgId, scan.scanId);
    const attempts = await attemptsOf(t.container.db, scan.scanId);
    expectExactlyOnce(attempts, scan.cells);
    const perCell = requestsPerCell(mock, scan.plan);
    expect(mock.stats.total).toBeLessThanOrEqual(scan.cells + MAX_IN_FLIGHT);
    for (const attempt of attempts) if ((perCell.get(attempt.cellIndex) ?? 0) > 1) expect(attempt.retries).toBeGreaterThanOrEqual(1);
    const row = await scanRow(t.container.db, scan.scanId);
    expect(row.status).toBe('completed');
    expect(row.attemptsDone).toBe(scan.cells);
    expect(row.requestsUsed).toBeGreaterThanOrEqual(mock.stats.total);
    expect(row.resisted).toBe(scan.cells);
    // Done chunks drop their cells' sent marks (including the interrupted run's): none is left behind.
    expect(await markedCells(base.store, scan.scanId, Array.from({ length: scan.cells }, (_, cell) => cell))).toEqual(new Set());
  });

  it('[ASVS 2.3.3] a second run of a finished chunk sends nothing and stores nothing', async () => {
    const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: FAST_LIMITS });
    const scan = await insertScan(base, { orgId, target, probes: numberedProbes(10), chunkSize: 10 });
    const executor = buildExecutor(base, adapter);
    await runPendingChunks(base, executor, orgId, scan.scanId);
    const sent = mock.stats.total;
    // The job may run twice (queue retry, reconciler): the chunk is done, the lease refused.
    await executor.run({ scanId: scan.scanId, orgId, chunkIndex: 0 }, new AbortController().signal);
    expect(mock.stats.total).toBe(sent);
    expectExactlyOnce(await attemptsOf(t.container.db, scan.scanId), scan.cells);
  });
});

describe('target answers end to end against the mock', () => {
  it('[ASVS 2.4.1] honours 429 Retry-After: the cell is retried after the wait and stored once with its retries', async () => {
    const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: { ...FAST_LIMITS, maxInFlight: 1 } });
    const scan = await insertScan(base, { orgId, target, probes: numberedProbes(3), chunkSize: 3 });
    mock.enqueue({ kind: 'rateLimited', retryAfter: '1' });
    const started = Date.now();
    await runPendingChunks(base, buildExecutor(base, adapter), orgId, scan.scanId);
    const attempts = await attemptsOf(t.container.db, scan.scanId);
    expectExactlyOnce(attempts, 3);
    expect(attempts[0]!.retries).toBe(1);
    expect(attempts[0]!.statusCode).toBe(200);
    expect(attempts[0]!.verdict).toBe('resisted');
    // The second request came no earlier than the Retry-After allowed.
    expect(mock.requests[1]!.arrivedAtMs - started).toBeGreaterThanOrEqual(950);
    expect((await scanRow(t.container.db, scan.scanId)).requestsUsed).toBe(4);
  });

  it('[ASVS 2.4.1] a target that never answers is a timeout: the cell is errored evidence and the scan completes', async () => {
    const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: { ...FAST_LIMITS, timeoutMs: 300, maxRetries: 1 } });
    const scan = await insertScan(base, { orgId, target, probes: numberedProbes(4, 'slow'), chunkSize: 4 });
    mock.setBehaviour((request) => (promptOf(request).startsWith('slow number 2') ? { kind: 'hang' } : { kind: 'answer', text: 'I cannot help with that.' }));
    await runPendingChunks(base, buildExecutor(base, adapter), orgId, scan.scanId);
    const attempts = await attemptsOf(t.container.db, scan.scanId);
    expectExactlyOnce(attempts, 4);
    const timedOut = attempts[2]!;
    expect(timedOut.verdict).toBe('errored');
    expect(timedOut.errorCode).toMatch(/^target_(timeout|retries_exhausted)$/);
    expect(timedOut.retries).toBe(1);
    expect(timedOut.response).toBeNull();
    const row = await scanRow(t.container.db, scan.scanId);
    expect(row.status).toBe('completed');
    expect(row.errored).toBe(1);
    expect(row.resisted).toBe(3);
  });

  it('[ASVS 2.4.1] a 401 is fatal: the scan fails fast with the status in its reason and stops sending', async () => {
    const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: { ...FAST_LIMITS, maxInFlight: 2 }, apiKey: 'sk-wrong-key' });
    const scan = await insertScan(base, { orgId, target, probes: numberedProbes(60), chunkSize: 20 });
    mock.setBehaviour(() => ({ kind: 'unauthorized' }));
    await runPendingChunks(base, buildExecutor(base, adapter), orgId, scan.scanId);
    const row = await scanRow(t.container.db, scan.scanId);
    expect(row.status).toBe('failed');
    expect(row.statusReason).toContain('401');
    expect(row.finishedAt).not.toBeNull();
    // Only the calls already in flight when the first 401 came back were made: no retry, no other chunk.
    expect(mock.stats.total).toBeLessThanOrEqual(2);
    const attempts = await attemptsOf(t.container.db, scan.scanId);
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    for (const attempt of attempts) {
      expect(attempt.statusCode).toBe(401);
      expect(attempt.errorCode).toBe('target_fatal_status');
    }
    const pending = await t.container.db.selectFrom('scanChunks').select('chunkIndex').where('scanId', '=', scan.scanId).where('status', '=', 'pending').execute();
    expect(pending).toHaveLength(3);
  });
});

describe('lifecycle seen by a running chunk', () => {
  it('[ASVS 2.3.3] a cancel stops the run within a status check: no new cells, the lease released, the chunk still pending', async () => {
    const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: { ...FAST_LIMITS, maxInFlight: 4 } });
    const scan = await insertScan(base, { orgId, target, probes: numberedProbes(80), chunkSize: 80 });
    const running = buildExecutor(base, adapter, { statusCheckMs: 50 }).run({ scanId: scan.scanId, orgId, chunkIndex: 0 }, new AbortController().signal);
    await until(() => mock.stats.total >= 10);
    await t.container.db.updateTable('scans').set({ status: 'cancelled' }).where('id', '=', scan.scanId).execute();
    const atCancel = mock.stats.total;
    await running;
    // At most the calls already in flight plus one status-check interval's worth of cells.
    expect(mock.stats.total).toBeLessThanOrEqual(atCancel + 8);
    expect(mock.stats.total).toBeLessThan(scan.cells);
    const chunk = await t.container.db.selectFrom('scanChunks').selectAll().where('scanId', '=', scan.scanId).executeTakeFirstOrThrow();
    expect(chunk).toMatchObject({ status: 'pending', leaseOwner: null, leaseExpiresAt: null });
    expect((await scanRow(t.container.db, scan.scanId)).status).toBe('cancelled');
  });

  it('[ASVS 2.4.1] a request budget ends the scan as partial with the reason, without overspending', async () => {
    const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: { ...FAST_LIMITS, maxInFlight: 4 } });
    const scan = await insertScan(base, { orgId, target, probes: numberedProbes(30), chunkSize: 10, budgets: { maxRequests: 10 } });
    await runPendingChunks(base, buildExecutor(base, adapter), orgId, scan.scanId);
    const row = await scanRow(t.container.db, scan.scanId);
    expect(row.status).toBe('partial');
    expect(row.statusReason).toContain('request budget of 10');
    // A retry is paid for before it is sent, so even a retried exchange cannot take the count past 10.
    expect(mock.stats.total).toBeLessThanOrEqual(10);
    expect(row.requestsUsed).toBe(10);
    expectExactlyOnce(await attemptsOf(t.container.db, scan.scanId), 10);
  });

  it('[ASVS 2.4.1] retries count against the request budget before they are sent: never a request past it', async () => {
    const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: { ...FAST_LIMITS, maxInFlight: 4, backoffBaseMs: 1, backoffMaxMs: 5 } });
    const scan = await insertScan(base, { orgId, target, probes: numberedProbes(30), chunkSize: 10, budgets: { maxRequests: 10 } });
    // Every prompt's first request is refused with a retryable 503, its second is answered.
    const seen = new Set<string>();
    mock.setBehaviour((request) => {
      const prompt = promptOf(request);
      if (seen.has(prompt)) return { kind: 'answer', text: 'I cannot help with that.' };
      seen.add(prompt);
      return { kind: 'serverError', status: 503 };
    });
    await runPendingChunks(base, buildExecutor(base, adapter), orgId, scan.scanId);
    const row = await scanRow(t.container.db, scan.scanId);
    expect(row.status).toBe('partial');
    expect(mock.stats.total).toBe(10);
    expect(row.requestsUsed).toBe(10);
    const attempts = await attemptsOf(t.container.db, scan.scanId);
    // Each stored cell cost what it says; the cell whose retry found the budget spent is errored evidence.
    expect(attempts.reduce((sum, attempt) => sum + attempt.retries + 1, 0)).toBe(10);
    expect(attempts.filter((attempt) => attempt.retries === 1).every((attempt) => attempt.statusCode === 200)).toBe(true);
    expect(attempts.filter((attempt) => attempt.retries === 0).every((attempt) => attempt.errorCode === 'target_retries_exhausted' && attempt.statusCode === 503)).toBe(true);
  });

  it('[ASVS 2.4.1] a wall-time budget already spent ends the scan as partial before anything is sent', async () => {
    const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: FAST_LIMITS });
    const scan = await insertScan(base, { orgId, target, probes: numberedProbes(5), chunkSize: 5, budgets: { maxWallSeconds: 60 } });
    const startedAt = new Date(t.container.clock.nowMs() - 61_000);
    await t.container.db.updateTable('scans').set({ status: 'running', startedAt }).where('id', '=', scan.scanId).execute();
    await runPendingChunks(base, buildExecutor(base, adapter), orgId, scan.scanId);
    const row = await scanRow(t.container.db, scan.scanId);
    expect(row).toMatchObject({ status: 'partial', attemptsDone: 0 });
    expect(row.statusReason).toContain('wall-time budget of 60 s');
    expect(mock.stats.total).toBe(0);
  });
});

async function until(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describeWorkerKill(() => ({ t, mock, orgId, base }));
describeRealWorkers();
