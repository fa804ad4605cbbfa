import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../platform/clock.js';
import { EgressError, type EgressErrorCode } from '../../platform/egress/egress-error.js';
import { createMemoryStore } from '../../platform/stores/memory-store.js';
import { DEFAULT_TARGET_LIMITS, TargetCallError, type SendOnce, type TargetExchange, type TargetLimits } from './target-call.js';
import { MAX_FLOOR_MS, createTargetLimiter, parseRetryAfterMs, type LimiterStore, type Sleep } from './target-limiter.js';

// Virtual time: sleeps queue on a manual clock, and `run` jumps to the next due sleep whenever every
// pending promise is waiting on one, so hours of backoff take microseconds and nothing really sleeps.
function virtualTime() {
  const clock = createManualClock();
  let seq = 0;
  const timers: Array<{ dueMs: number; seq: number; fire: () => void }> = [];
  const sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const timer = { dueMs: clock.nowMs() + ms, seq: seq++, fire: () => (signal?.removeEventListener('abort', onAbort), resolve()) };
      const onAbort = () => (timers.splice(timers.indexOf(timer), 1), reject(signal!.reason as Error));
      timers.push(timer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  async function run<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    promise.then(() => (settled = true), () => (settled = true));
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (settled) return promise;
      timers.sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq);
      const next = timers.shift();
      if (!next) throw new Error('the call is pending with nothing scheduled');
      if (next.dueMs > clock.nowMs()) clock.advance(next.dueMs - clock.nowMs());
      next.fire();
    }
  }
  return { clock, sleep, run };
}

const exchange = (status: number, headers: Record<string, string> = {}): TargetExchange => ({
  status,
  headers,
  body: Buffer.from('{}'),
  text: status < 300 ? 'ok' : null,
  latencyMs: 1,
});

function harness(options: { random?: () => number; leaseTtlMs?: number } = {}) {
  const time = virtualTime();
  const store = createMemoryStore({ clock: time.clock });
  const limiter = (storeOverride: LimiterStore = store) =>
    createTargetLimiter({ store: storeOverride, clock: time.clock, sleep: time.sleep, random: options.random ?? (() => 0.5), leaseTtlMs: options.leaseTtlMs ?? 1_000 });
  const sentAt: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  // A send that answers from a script after `latencyMs` of virtual time, recording when it started.
  const scripted = (replies: Array<TargetExchange | Error>, latencyMs = 10): SendOnce => {
    let index = 0;
    return async (signal) => {
      sentAt.push(time.clock.nowMs());
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await time.sleep(latencyMs, signal);
        const reply = replies[Math.min(index++, replies.length - 1)]!;
        if (reply instanceof Error) throw reply;
        return reply;
      } finally {
        inFlight -= 1;
      }
    };
  };
  return { ...time, store, limiter, scripted, sentAt, maxInFlight: () => maxInFlight };
}

const limits = (overrides: Partial<TargetLimits> = {}): TargetLimits => ({ ...DEFAULT_TARGET_LIMITS, requestsPerMinute: 6_000, ...overrides });
const failure = async (promise: Promise<unknown>): Promise<TargetCallError> => {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(TargetCallError);
  return error as TargetCallError;
};
const egress = (code: EgressErrorCode) => new EgressError(code);

describe('target limiter: outcomes', () => {
  it('returns a 2xx exchange, and any status that is neither retried nor fatal, after one attempt', async () => {
    const h = harness();
    expect(await h.run(h.limiter().call('t1', limits(), h.scripted([exchange(200)])))).toMatchObject({ attempts: 1, exchange: { status: 200 } });
    expect(await h.run(h.limiter().call('t1', limits(), h.scripted([exchange(400)])))).toMatchObject({ attempts: 1, exchange: { status: 400 } });
  });

  it('stops at once on a fatal status with the exchange and a reason', async () => {
    const h = harness();
    const error = await failure(h.run(h.limiter().call('t1', limits(), h.scripted([exchange(401), exchange(200)]))));
    expect(error).toMatchObject({ code: 'target_fatal_status', attempts: 1, exchange: { status: 401 } });
    expect(error.message).toContain('401');
    expect(h.sentAt).toHaveLength(1);
  });

  it('retries a retryable status with capped exponential backoff and full jitter, then gives up', async () => {
    const h = harness({ random: () => 0.999 });
    const rule = limits({ backoffBaseMs: 100, backoffMaxMs: 300, maxRetries: 4 });
    const error = await failure(h.run(h.limiter().call('t1', rule, h.scripted([exchange(503)], 10))));
    expect(error).toMatchObject({ code: 'target_retries_exhausted', attempts: 5, exchange: { status: 503 } });
    const gaps = h.sentAt.slice(1).map((at, i) => at - h.sentAt[i]! - 10);
    expect(gaps).toEqual([99, 199, 299, 299]); // 100·2^n capped at 300, times the jitter draw
  });

  it('retries egress timeouts and network failures, and succeeds when the target recovers', async () => {
    const h = harness();
    const send = h.scripted([egress('egress_timeout'), egress('egress_network'), exchange(200)]);
    expect(await h.run(h.limiter().call('t1', limits(), send))).toMatchObject({ attempts: 3, exchange: { status: 200 } });
  });

  it('asks before every retry and stops, with the last exchange or failure, when the retry is not allowed', async () => {
    const h = harness();
    let allowed = 1;
    const mayRetry = () => allowed-- > 0;
    const error = await failure(h.run(h.limiter().call('t1', limits({ maxRetries: 5 }), h.scripted([exchange(503)]), { mayRetry })));
    expect(error).toMatchObject({ code: 'target_retries_exhausted', attempts: 2, exchange: { status: 503 } });
    expect(error.message).toContain('budget');
    expect(h.sentAt).toHaveLength(2);
    const network = await failure(h.run(h.limiter().call('t1', limits(), h.scripted([egress('egress_network'), exchange(200)]), { mayRetry: () => false })));
    expect(network).toMatchObject({ code: 'target_retries_exhausted', attempts: 1 });
    expect(network.cause).toBeInstanceOf(EgressError);
    expect(h.sentAt).toHaveLength(3);
  });

  it('awaits beforeFirstSend once, after admission and before the first byte; its failure sends nothing and frees the slot', async () => {
    const h = harness();
    const events: string[] = [];
    const send = h.scripted([exchange(503), exchange(200)]);
    const beforeFirstSend = async () => {
      events.push(`hook at ${h.sentAt.length} sent`);
      await h.sleep(5);
    };
    expect(await h.run(h.limiter().call('t1', limits(), send, { beforeFirstSend }))).toMatchObject({ attempts: 2 });
    expect(events).toEqual(['hook at 0 sent']);
    const refused = h.run(h.limiter().call('t1', limits({ maxInFlight: 1 }), send, { beforeFirstSend: () => Promise.reject(new Error('mark failed')) }));
    await expect(refused).rejects.toThrow('mark failed');
    expect(h.sentAt).toHaveLength(2);
    // The slot went back: the next call is admitted at once.
    expect(await h.run(h.limiter().call('t1', limits({ maxInFlight: 1 }), h.scripted([exchange(200)])))).toMatchObject({ attempts: 1 });
  });

  it.each(['egress_denied_address', 'egress_invalid_url', 'egress_response_too_large'] as const)('[ASVS 1.3.6] does not retry a refused destination (%s)', async (code) => {
    const h = harness();
    const error = await failure(h.run(h.limiter().call('t1', limits(), h.scripted([egress(code), exchange(200)]))));
    expect(error).toMatchObject({ code: 'target_egress_refused', attempts: 1, message: egress(code).message });
    expect(h.sentAt).toHaveLength(1);
  });

  it('rethrows an unexpected error from the adapter without retrying', async () => {
    const h = harness();
    const bug = new TypeError('adapter bug');
    await expect(h.run(h.limiter().call('t1', limits(), h.scripted([bug, exchange(200)])))).rejects.toBe(bug);
    expect(h.sentAt).toHaveLength(1);
  });

  it('aborts an exchange at its timeout even if the adapter ignores the signal, and retries it', async () => {
    const h = harness();
    const signals: AbortSignal[] = [];
    const hanging: SendOnce = (signal) => (signals.push(signal), h.sentAt.push(h.clock.nowMs()), new Promise<never>(() => undefined));
    const error = await failure(h.run(h.limiter().call('t1', limits({ timeoutMs: 2_000, maxRetries: 1, backoffBaseMs: 0 }), hanging)));
    expect(error).toMatchObject({ code: 'target_retries_exhausted', attempts: 2 });
    expect(error.message).toContain('did not answer in time');
    expect(signals.every((signal) => signal.aborted)).toBe(true);
    expect(h.sentAt[1]! - h.sentAt[0]!).toBe(2_000);
  });
});

describe('target limiter: Retry-After and the shared floor', () => {
  it('waits at least Retry-After (seconds) before the retry, whatever the backoff says', async () => {
    const h = harness();
    const send = h.scripted([exchange(429, { 'retry-after': '3' }), exchange(200)], 10);
    expect(await h.run(h.limiter().call('t1', limits({ backoffBaseMs: 10 }), send))).toMatchObject({ attempts: 2 });
    expect(h.sentAt[1]! - h.sentAt[0]!).toBeGreaterThanOrEqual(3_010);
  });

  it('holds back every other caller of the target, in any process, until the floor passes', async () => {
    const h = harness();
    const first = h.limiter().call('t1', limits(), h.scripted([exchange(503, { 'retry-after': '2' }), exchange(200)], 50));
    const other = (async () => {
      await h.sleep(100); // the 503 was received at t=50 by the other "process"
      return await h.limiter().call('t1', limits(), h.scripted([exchange(200)], 10));
    })();
    await h.run(Promise.all([first, other]));
    expect(Math.min(...h.sentAt.slice(1))).toBeGreaterThanOrEqual(h.sentAt[0]! + 50 + 2_000);
  });

  it('reads an HTTP-date Retry-After against the clock', async () => {
    const h = harness();
    const at = new Date(h.clock.nowMs() + 10 + 5_000).toUTCString();
    const send = h.scripted([exchange(429, { 'retry-after': at }), exchange(200)], 10);
    await h.run(h.limiter().call('t1', limits(), send));
    expect(h.sentAt[1]! - h.sentAt[0]!).toBeGreaterThanOrEqual(5_000);
  });

  it('gives up when asked to wait longer than the backoff limit, and new calls fail fast until it passes', async () => {
    const h = harness();
    const rule = limits({ backoffMaxMs: 30_000 });
    const error = await failure(h.run(h.limiter().call('t1', rule, h.scripted([exchange(429, { 'retry-after': '120' })]))));
    expect(error).toMatchObject({ code: 'target_retries_exhausted', attempts: 1, exchange: { status: 429 } });
    const blocked = await failure(h.run(h.limiter().call('t1', rule, h.scripted([exchange(200)]))));
    expect(blocked).toMatchObject({ code: 'target_retries_exhausted', attempts: 0 });
    expect(h.sentAt).toHaveLength(1);
    h.clock.advance(120_000);
    expect(await h.run(h.limiter().call('t1', rule, h.scripted([exchange(200)])))).toMatchObject({ attempts: 1 });
  });

  it('caps the shared floor a hostile Retry-After can set', async () => {
    const h = harness();
    await failure(h.run(h.limiter().call('t1', limits(), h.scripted([exchange(429, { 'retry-after': '99999999' })]))));
    expect(await h.store.floorRemainingMs('target-limit:t1:floor')).toBe(MAX_FLOOR_MS);
  });

  it('parses delta-seconds and HTTP-dates, and ignores what it cannot read', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfterMs('7', now)).toBe(7_000);
    expect(parseRetryAfterMs(['2', '9'], now)).toBe(2_000);
    expect(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    for (const bad of [undefined, '', '-1', '1.5', 'soon', 'Someday']) expect(parseRetryAfterMs(bad, now)).toBeNull();
  });
});

describe('target limiter: concurrency and rate', () => {
  it('never lets more than maxInFlight exchanges run at once across two processes sharing a store', async () => {
    const h = harness();
    const [a, b] = [h.limiter(), h.limiter()];
    const calls = Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).call('t1', limits({ maxInFlight: 3 }), h.scripted([exchange(200)], 100)));
    const results = await h.run(Promise.all(calls));
    expect(results.every((result) => result.exchange.status === 200)).toBe(true);
    expect(h.maxInFlight()).toBe(3);
  });

  it('spaces exchanges by the requests-per-minute rate (GCRA, one second of burst)', async () => {
    const h = harness();
    const calls = Array.from({ length: 5 }, () => h.limiter().call('t1', limits({ requestsPerMinute: 60, maxInFlight: 10 }), h.scripted([exchange(200)], 1)));
    await h.run(Promise.all(calls));
    const sorted = [...h.sentAt].sort((x, y) => x - y);
    for (let i = 1; i < sorted.length; i += 1) expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(1_000);
  });

  it('renews the slot of a long exchange, so it is not handed to another caller', async () => {
    const h = harness({ leaseTtlMs: 300 });
    const rule = limits({ maxInFlight: 1, timeoutMs: 60_000 });
    const long = h.limiter().call('t1', rule, h.scripted([exchange(200)], 5_000));
    const next = h.limiter().call('t1', rule, h.scripted([exchange(200)], 10));
    await h.run(Promise.all([long, next]));
    expect(h.sentAt[1]! - h.sentAt[0]!).toBeGreaterThanOrEqual(5_000);
  });

  it("gets back a dead process's slot after the lease TTL", async () => {
    const h = harness({ leaseTtlMs: 4_000 });
    expect(await h.store.acquireLease('target-limit:t1:lease', 1, 4_000)).toEqual(expect.any(String)); // never released
    const startMs = h.clock.nowMs();
    await h.run(h.limiter().call('t1', limits({ maxInFlight: 1 }), h.scripted([exchange(200)])));
    expect(h.sentAt[0]! - startMs).toBeGreaterThanOrEqual(4_000);
    expect(h.sentAt[0]! - startMs).toBeLessThan(4_600); // polling is bounded: it notices within its longest poll
  });
});

describe('target limiter: cancellation, failures, input', () => {
  it('reports a cancelled call and gives its slot back, whether cancelled before, during or between exchanges', async () => {
    const h = harness();
    const rule = limits({ maxInFlight: 1 });
    const cancelled = new AbortController();
    cancelled.abort();
    expect(await failure(h.run(h.limiter().call('t1', rule, h.scripted([exchange(200)]), { signal: cancelled.signal })))).toMatchObject({ code: 'target_call_aborted', attempts: 0 });
    for (const [reply, afterMs] of [[exchange(200), 5], [exchange(503), 1_100]] as const) {
      const controller = new AbortController();
      const call = h.limiter().call('t1', rule, h.scripted([reply], 1_000), { signal: controller.signal });
      void h.sleep(afterMs).then(() => controller.abort());
      expect(await failure(h.run(call))).toMatchObject({ code: 'target_call_aborted', attempts: 1 });
      expect(await h.store.acquireLease('target-limit:t1:lease', 1, 10)).toEqual(expect.any(String));
    }
  });

  it('fails closed when the store is down, and still releases what it took', async () => {
    const h = harness();
    const outage = Object.assign(new Error('shared store unavailable'), { statusCode: 503 });
    const broken: LimiterStore = { ...h.store, admit: () => Promise.reject(outage) };
    await expect(h.run(h.limiter(broken).call('t1', limits(), h.scripted([exchange(200)])))).rejects.toBe(outage);
    expect(h.sentAt).toHaveLength(0);

    // Down between the admission and the release: the exchange's answer still counts, the slot lapses by TTL.
    const released: string[] = [];
    const failingRelease: LimiterStore = { ...h.store, releaseLease: (_key, token) => (released.push(token), Promise.reject(outage)) };
    expect(await h.run(h.limiter(failingRelease).call('t2', limits(), h.scripted([exchange(200)])))).toMatchObject({ attempts: 1 });
    expect(released).toHaveLength(1);
  });

  it('admits floor, slot and rate token in one store call per exchange, and takes nothing while refused', async () => {
    const h = harness();
    const calls: string[] = [];
    const counting: LimiterStore = {
      admit: (...args) => (calls.push('admit'), h.store.admit(...args)),
      renewLease: (...args) => (calls.push('renew'), h.store.renewLease(...args)),
      releaseLease: (...args) => (calls.push('release'), h.store.releaseLease(...args)),
      raiseFloor: (...args) => (calls.push('floor'), h.store.raiseFloor(...args)),
    };
    await h.run(h.limiter(counting).call('t1', limits(), h.scripted([exchange(200)])));
    expect(calls).toEqual(['admit', 'release']);

    // A floor refuses the admission without spending a rate token or holding a slot.
    await h.store.raiseFloor('target-limit:t3:floor', 500);
    const keys = { floor: 'target-limit:t3:floor', lease: 'target-limit:t3:lease', rate: 'target-limit:t3:rate' };
    const rule = { limit: 1, windowSeconds: 60 };
    expect(await h.store.admit(keys, 1, 1_000, rule)).toEqual({ admitted: false, reason: 'floor', waitMs: 500 });
    h.clock.advance(500);
    const first = await h.store.admit(keys, 1, 1_000, rule);
    expect(first).toEqual({ admitted: true, token: expect.any(String) });
    expect(await h.store.admit(keys, 1, 1_000, rule)).toEqual({ admitted: false, reason: 'slots' });
    await h.store.releaseLease(keys.lease, (first as { token: string }).token);
    expect(await h.store.admit(keys, 1, 1_000, rule)).toEqual({ admitted: false, reason: 'rate', waitMs: 60_000 });
  });

  it('rejects invalid limits or a target id that could escape its key space as a bug', async () => {
    const h = harness();
    const send = h.scripted([exchange(200)]);
    await expect(h.limiter().call('t1', limits({ maxInFlight: 0 }), send)).rejects.toThrow(RangeError);
    await expect(h.limiter().call('t1', limits({ backoffBaseMs: 10, backoffMaxMs: 5 }), send)).rejects.toThrow(/backoffMaxMs/);
    await expect(h.limiter().call('t1', limits({ requestsPerMinute: 0.5 }), send)).rejects.toThrow(/requestsPerMinute/);
    await expect(h.limiter().call('a*b', limits(), send)).rejects.toThrow(RangeError);
    expect(h.sentAt).toHaveLength(0);
  });
});
