import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../platform/clock.js';
import { createMemoryStore } from '../../platform/stores/memory-store.js';
import { createSentMarks, sentMarkKey } from './sent-marks.js';

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
});
