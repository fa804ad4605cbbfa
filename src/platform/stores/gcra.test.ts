import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gcraParameters, gcraStep } from './gcra.js';

/** Feeds arrival times (µs, ascending) through the rule from an empty state; returns how many passed. */
function acceptedCount(arrivalsUs: number[], limit: number, windowSeconds: number): number {
  const parameters = gcraParameters({ limit, windowSeconds });
  let tatUs: number | null = null;
  let accepted = 0;
  for (const nowUs of arrivalsUs) {
    const step = gcraStep(tatUs, nowUs, parameters);
    if (step.decision.allowed) {
      accepted += 1;
      tatUs = step.nextTatUs;
    }
  }
  return accepted;
}

const START_US = 1_767_225_600_000_000; // 2026-01-01, so precision is checked at real timestamps

describe('GCRA', () => {
  it('lets exactly `limit` requests through at once, counting remaining down, then refuses', () => {
    const parameters = gcraParameters({ limit: 5, windowSeconds: 10 });
    let tatUs: number | null = null;
    for (let i = 0; i < 5; i += 1) {
      const step = gcraStep(tatUs, START_US, parameters);
      expect(step.decision).toMatchObject({ allowed: true, limit: 5, remaining: 4 - i, retryAfterSeconds: 0 });
      expect(step.decision.resetSeconds).toBe(2 * (i + 1));
      tatUs = step.nextTatUs;
    }
    const refused = gcraStep(tatUs, START_US, parameters);
    expect(refused.decision).toMatchObject({ allowed: false, remaining: 0, resetSeconds: 10, retryAfterSeconds: 2 });
    expect(refused.nextTatUs).toBeNull();
  });

  it('keeps the stored state only as long as it matters', () => {
    const step = gcraStep(null, START_US, gcraParameters({ limit: 10, windowSeconds: 60 }));
    expect(step.ttlMs).toBe(6_000);
  });

  it('accepts between L and 1.05·L of a burst spread over up to 5% of the window (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 3_600 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.double({ min: 0, max: 0.05, noNaN: true }), { minLength: 1, maxLength: 50 }),
        (limit, windowSeconds, overload, spread) => {
          const burstSize = limit * overload + spread.length;
          const offsets = Array.from({ length: burstSize }, (_, i) => spread[i % spread.length]!);
          const arrivals = offsets.map((fraction) => START_US + Math.floor(fraction * windowSeconds * 1_000_000)).sort((a, b) => a - b);
          const accepted = acceptedCount(arrivals, limit, windowSeconds);
          expect(accepted).toBeGreaterThanOrEqual(limit);
          expect(accepted).toBeLessThanOrEqual(limit * 1.05);
        },
      ),
    );
  });

  it('never exceeds the burst plus the sustained rate over any run of traffic (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.integer({ min: 0, max: 2_000_000 }), { minLength: 1, maxLength: 400 }),
        (limit, windowSeconds, gapsUs) => {
          let nowUs = START_US;
          const arrivals = gapsUs.map((gap) => (nowUs += gap));
          const elapsedUs = nowUs - START_US;
          const accepted = acceptedCount(arrivals, limit, windowSeconds);
          expect(accepted).toBeLessThanOrEqual(limit + Math.floor((elapsedUs * limit) / (windowSeconds * 1_000_000)));
        },
      ),
    );
  });

  it('rejects rules that make no sense', () => {
    expect(() => gcraParameters({ limit: 0, windowSeconds: 1 })).toThrow(RangeError);
    expect(() => gcraParameters({ limit: 1.5, windowSeconds: 1 })).toThrow(RangeError);
    expect(() => gcraParameters({ limit: 1, windowSeconds: Number.NaN })).toThrow(RangeError);
  });
});
