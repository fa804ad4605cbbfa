import { afterEach, describe, expect, it, vi } from 'vitest';
import { createManualClock } from '../clock.js';
import { schedulePeriodic, type PeriodicScheduler } from './schedule-periodic.js';

const HOUR = 3_600_000;
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const setup = (options: { failing?: () => boolean } = {}) => {
  const clock = createManualClock(new Date('2026-11-28T10:00:05Z'));
  const calls: Array<{ name: string; payload: unknown; jobId: string | undefined }> = [];
  const warnings: unknown[] = [];
  const queue = {
    enqueue: (name: string, payload: unknown, opts?: { jobId?: string }) => {
      calls.push({ name, payload, jobId: opts?.jobId });
      return options.failing?.() ? Promise.reject(new Error('queue down')) : Promise.resolve(opts?.jobId ?? 'x');
    },
  };
  const logger = { warn: (obj: unknown) => void warnings.push(obj) };
  return { clock, calls, warnings, queue, logger };
};

let scheduler: PeriodicScheduler | undefined;
afterEach(() => {
  scheduler?.stop();
  scheduler = undefined;
  vi.useRealTimers();
});

describe('schedulePeriodic', () => {
  it('enqueues each job at once, then once per slot, with the slot in the job id', async () => {
    const { clock, calls, queue, logger } = setup();
    scheduler = schedulePeriodic({ queue, clock, logger }, [
      { name: 'a.hourly', everyMs: HOUR },
      { name: 'b.fast', everyMs: 10_000 },
    ]);
    await flush();
    const hourSlot = Math.floor(clock.nowMs() / HOUR);
    const fastSlot = Math.floor(clock.nowMs() / 10_000);
    expect(calls).toEqual([
      { name: 'a.hourly', payload: {}, jobId: `a.hourly-${hourSlot}` },
      { name: 'b.fast', payload: {}, jobId: `b.fast-${fastSlot}` },
    ]);

    // Same slots: nothing new.
    clock.advance(4_000);
    scheduler.tick();
    await flush();
    expect(calls).toHaveLength(2);

    // The fast job's next slot; the hourly one is still in its slot.
    clock.advance(2_000);
    scheduler.tick();
    await flush();
    expect(calls.map((c) => c.jobId)).toEqual([`a.hourly-${hourSlot}`, `b.fast-${fastSlot}`, `b.fast-${fastSlot + 1}`]);

    // An hour later both have a new slot.
    clock.advance(HOUR);
    scheduler.tick();
    await flush();
    expect(calls.slice(3).map((c) => c.jobId)).toEqual([`a.hourly-${hourSlot + 1}`, `b.fast-${fastSlot + 361}`]);
  });

  it('gives every process the same job id in the same slot (the queue dedupes across processes)', async () => {
    const first = setup();
    const second = setup();
    second.clock.advance(30 * 60_000); // another process, half an hour later in the same hour
    const a = schedulePeriodic({ queue: first.queue, clock: first.clock, logger: first.logger }, [{ name: 'a.hourly', everyMs: HOUR }]);
    const b = schedulePeriodic({ queue: second.queue, clock: second.clock, logger: second.logger }, [{ name: 'a.hourly', everyMs: HOUR }]);
    a.stop();
    b.stop();
    await flush();
    expect(first.calls[0]?.jobId).toBe(second.calls[0]?.jobId);
  });

  it('retries a failed enqueue at the next tick and warns once per slot', async () => {
    let down = true;
    const { clock, calls, warnings, queue, logger } = setup({ failing: () => down });
    clock.advance(1_000);
    scheduler = schedulePeriodic({ queue, clock, logger }, [{ name: 'a.hourly', everyMs: HOUR }]);
    await flush();
    scheduler.tick();
    await flush();
    expect(calls).toHaveLength(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ jobName: 'a.hourly' });

    down = false;
    scheduler.tick();
    await flush();
    scheduler.tick();
    await flush();
    expect(calls).toHaveLength(3); // succeeded once, then the slot is done
    expect(new Set(calls.map((c) => c.jobId)).size).toBe(1);
    expect(warnings).toHaveLength(1);
  });

  it('does not pile up enqueues while one is still in flight', async () => {
    const { clock, logger } = setup();
    let release: () => void = () => undefined;
    const calls: string[] = [];
    const queue = {
      enqueue: (_name: string, _payload: unknown, opts?: { jobId?: string }) => {
        calls.push(opts?.jobId ?? '');
        return new Promise<string>((resolve) => (release = () => resolve('id')));
      },
    };
    scheduler = schedulePeriodic({ queue, clock, logger }, [{ name: 'a.hourly', everyMs: HOUR }]);
    scheduler.tick();
    scheduler.tick();
    expect(calls).toHaveLength(1);
    release();
    await flush();
    scheduler.tick();
    expect(calls).toHaveLength(1);
  });

  it('ticks on a timer no slower than the shortest period (at most a minute)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { clock, calls, queue, logger } = setup();
    scheduler = schedulePeriodic({ queue, clock, logger }, [
      { name: 'a.hourly', everyMs: HOUR },
      { name: 'b.fast', everyMs: 10_000 },
    ]);
    await flush();
    expect(calls).toHaveLength(2);
    clock.advance(10_000);
    vi.advanceTimersByTime(10_000);
    await flush();
    expect(calls.map((c) => c.name)).toEqual(['a.hourly', 'b.fast', 'b.fast']);
    scheduler.stop();
    clock.advance(10_000);
    vi.advanceTimersByTime(60_000);
    await flush();
    expect(calls).toHaveLength(3);
  });

  it('refuses a period under a second', () => {
    const { clock, queue, logger } = setup();
    expect(() => schedulePeriodic({ queue, clock, logger }, [{ name: 'a.b', everyMs: 10 }])).toThrow(/everyMs/);
  });
});
