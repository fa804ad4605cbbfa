/** Injectable time source: every time-dependent rule takes one so tests never sleep. */
export interface Clock {
  now(): Date;
  nowMs(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  nowMs: () => Date.now(),
};

/** A clock tests move by hand. */
export function createManualClock(start: Date = new Date('2026-01-01T00:00:00Z')) {
  let ms = start.getTime();
  return {
    now: () => new Date(ms),
    nowMs: () => ms,
    advance(byMs: number) {
      ms += byMs;
    },
    set(to: Date) {
      ms = to.getTime();
    },
  };
}
