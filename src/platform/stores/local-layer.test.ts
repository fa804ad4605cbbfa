import { describe, expect, it } from 'vitest';
import { createManualClock } from '../clock.js';
import { LOCAL_TTL_MS, createLocalLayer } from './local-layer.js';
import { createMemoryStore } from './memory-store.js';

// The race rules are exercised through their users (versioned-cache.test.ts, test/integration/local-layer.test.ts);
// this covers the layer's own bounds.
describe('createLocalLayer', () => {
  it('stays bounded: the oldest copy goes first', async () => {
    const clock = createManualClock();
    const store = createMemoryStore({ clock });
    const layer = createLocalLayer<number>({ store, channel: 'bounded', clock, maxEntries: 3 });
    for (let i = 0; i < 5; i += 1) layer.remember(`k${i}`, i, layer.snapshot());
    expect(layer.size).toBe(3);
    expect(layer.get('k0')).toBeUndefined();
    expect(layer.get('k4')).toEqual(expect.objectContaining({ value: 4 }));
    await store.close();
  });

  it('never keeps a copy longer than the local TTL, whatever it is asked', async () => {
    const clock = createManualClock();
    const store = createMemoryStore({ clock });
    const layer = createLocalLayer<string | null>({ store, channel: 'ttl', clock, ttlMs: 60_000 });
    layer.remember('k', null, layer.snapshot());
    expect(layer.get('k')).toEqual(expect.objectContaining({ value: null }));
    clock.advance(LOCAL_TTL_MS - 1);
    expect(layer.get('k')).toBeDefined();
    clock.advance(1);
    expect(layer.get('k')).toBeUndefined();
    await store.close();
  });

  it('announces to every layer on the channel, and a stale snapshot stores nothing', async () => {
    const clock = createManualClock();
    const store = createMemoryStore({ clock });
    const here = createLocalLayer<number>({ store, channel: 'shared', clock });
    const there = createLocalLayer<number>({ store, channel: 'shared', clock });
    const elsewhere = createLocalLayer<number>({ store, channel: 'other', clock });
    for (const layer of [here, there, elsewhere]) layer.remember('k', 1, layer.snapshot());
    const snapshot = there.snapshot();
    await here.announce('k');
    expect(here.get('k')).toBeUndefined();
    expect(there.get('k')).toBeUndefined();
    expect(elsewhere.get('k')).toBeDefined();
    there.remember('k', 1, snapshot);
    expect(there.get('k')).toBeUndefined();
    await store.close();
    // A closed store delivers nothing any more, so nothing may be served from the layer either.
    expect(elsewhere.get('k')).toBeUndefined();
  });
});
