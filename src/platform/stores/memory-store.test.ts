import { afterEach, describe, expect, it, vi } from 'vitest';
import { createManualClock } from '../clock.js';
import { createMemoryStore } from './memory-store.js';

// The behaviour shared with Redis lives in test/integration/store.contract.test.ts; this covers what
// only the memory adapter has: staying bounded.
describe('createMemoryStore', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('drops expired keys on a sweep', async () => {
    const clock = createManualClock();
    const store = createMemoryStore({ clock, prefix: 'p' });
    for (let i = 0; i < 100; i += 1) await store.set(`short:${i}`, 'x', 1);
    await store.set('long', 'x', 60);
    expect(store.size).toBe(101);
    clock.advance(1_000);
    expect(store.sweepExpired()).toBe(100);
    expect(store.size).toBe(1);
    await store.close();
  });

  it('sweeps periodically on an unref-ed timer that close() stops', async () => {
    // Fake timers are fine here: the memory store does no I/O.
    vi.useFakeTimers();
    const clock = createManualClock();
    const store = createMemoryStore({ clock, sweepIntervalMs: 1_000 });
    await store.increment('counter', 1);
    clock.advance(1_000);
    vi.advanceTimersByTime(1_000);
    expect(store.size).toBe(0);
    expect(vi.getTimerCount()).toBe(1);
    await store.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fails an increment on a non-integer value, like Redis', async () => {
    const store = createMemoryStore({ clock: createManualClock() });
    await store.set('text', 'abc', 60);
    await expect(store.increment('text', 60)).rejects.toThrow('not an integer');
    await store.close();
  });
});
