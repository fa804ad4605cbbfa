import { afterEach, describe, expect, it, vi } from 'vitest';
import { validate, version } from 'uuid';
import { isUuid, newId, timestampOfId } from './ids.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('ids (UUIDv7)', () => {
  it('are valid version-7 UUIDs with the RFC 9562 variant, unique, carrying the creation millisecond', () => {
    const before = Date.now();
    const ids = Array.from({ length: 20_000 }, newId);
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 2_000)) {
      expect(validate(id) && version(id) === 7).toBe(true);
      expect(isUuid(id)).toBe(true);
      expect(id[19]).toMatch(/[89ab]/); // variant 10xx
    }
    expect(timestampOfId(ids[0]!)).toBeGreaterThanOrEqual(before);
    expect(timestampOfId(ids.at(-1)!)).toBeLessThanOrEqual(after + 1);
  });

  it('sort in creation order, within one millisecond and when the clock steps back', () => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
    const sameMs = Array.from({ length: 1_000 }, newId);
    now.mockReturnValue(1_799_999_999_000); // a clock step back must not reorder ids
    const afterStepBack = Array.from({ length: 100 }, newId);
    now.mockReturnValue(1_800_000_000_005);
    const later = newId();
    const all = [...sameMs, ...afterStepBack, later];
    expect([...all].sort()).toEqual(all);
    expect(timestampOfId(sameMs[0]!)).toBe(1_800_000_000_000);
    expect(timestampOfId(later)).toBe(1_800_000_000_005);
  });

  it('start each millisecond at a random counter, so ids of two processes are not guessable from each other', () => {
    const now = vi.spyOn(Date, 'now');
    const firsts = Array.from({ length: 50 }, (_, i) => {
      now.mockReturnValue(1_900_000_000_000 + i);
      return newId().slice(15, 23);
    });
    expect(new Set(firsts).size).toBeGreaterThan(45);
  });
});
