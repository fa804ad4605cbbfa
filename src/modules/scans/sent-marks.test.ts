import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../platform/clock.js';
import { createMemoryStore } from '../../platform/stores/memory-store.js';
import { createSentMarks, forgetMarks, markedCells, sentMarkKey } from './sent-marks.js';

describe('sent marks', () => {
  it('writes the marks asked for in one turn with one store call, and resolves each only once it is stored', async () => {
    const store = createMemoryStore({ clock: createManualClock() });
    const writes: string[][] = [];
    const marks = createSentMarks({ store: { setMany: (keys, value, ttl) => (writes.push([...keys]), store.setMany(keys, value, ttl)) }, scanId: 's1', ttlSeconds: 60 });
    const first = [3, 4, 5].map((cell) => marks.mark(cell).then(async () => store.get(sentMarkKey('s1', cell))));
    expect(writes).toHaveLength(0); // nothing sent before the turn ends
    expect(await Promise.all(first)).toEqual(['1', '1', '1']);
    await marks.mark(6);
    expect(writes).toEqual([[sentMarkKey('s1', 3), sentMarkKey('s1', 4), sentMarkKey('s1', 5)], [sentMarkKey('s1', 6)]]);
    await store.close();
  });

  it('fails every mark of a group whose write failed, so none of those cells is sent', async () => {
    const outage = new Error('store down');
    const marks = createSentMarks({ store: { setMany: () => Promise.reject(outage) }, scanId: 's1', ttlSeconds: 60 });
    const results = await Promise.allSettled([marks.mark(1), marks.mark(2)]);
    expect(results).toEqual([{ status: 'rejected', reason: outage }, { status: 'rejected', reason: outage }]);
  });

  it('finds the marked cells and drops a range of marks, across store calls of 500 keys', async () => {
    const store = createMemoryStore({ clock: createManualClock() });
    const deletes: number[] = [];
    const marked = [0, 499, 500, 1_199, 1_200];
    await store.setMany([...marked.map((cell) => sentMarkKey('s1', cell)), sentMarkKey('s2', 7)], '1', 60);
    const cells = Array.from({ length: 1_300 }, (_, cell) => cell);
    expect(await markedCells(store, 's1', cells)).toEqual(new Set(marked));
    await forgetMarks({ deleteMany: (keys) => (deletes.push(keys.length), store.deleteMany(keys)) }, 's1', 0, 1_200);
    expect(deletes).toEqual([500, 500, 200]);
    expect(await markedCells(store, 's1', cells)).toEqual(new Set([1_200]));
    // Another scan's marks are not touched.
    expect(await store.get(sentMarkKey('s2', 7))).toBe('1');
    await store.close();
  });
});
