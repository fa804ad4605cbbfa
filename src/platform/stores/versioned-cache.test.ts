import { describe, expect, it } from 'vitest';
import { createManualClock } from '../clock.js';
import { createMemoryStore } from './memory-store.js';
import { createVersionedCache } from './versioned-cache.js';

const setup = () => {
  const clock = createManualClock();
  const store = createMemoryStore({ clock });
  const cache = createVersionedCache<{ role: string }>({
    store,
    namespace: 'test:v1',
    ttlSeconds: 30,
    encode: (value) => JSON.stringify(value),
    decode: (raw) => JSON.parse(raw) as { role: string },
  });
  return { clock, store, cache };
};

describe('createVersionedCache', () => {
  it('loads once, then serves the cached value until the TTL passes', async () => {
    const { clock, cache } = setup();
    let loads = 0;
    const load = () => Promise.resolve({ role: `r${++loads}` });
    expect(await cache.get('u', load)).toEqual({ role: 'r1' });
    expect(await cache.get('u', load)).toEqual({ role: 'r1' });
    clock.advance(30_000);
    expect(await cache.get('u', load)).toEqual({ role: 'r2' });
  });

  it('reloads after an invalidation', async () => {
    const { cache } = setup();
    let role = 'admin';
    const load = () => Promise.resolve({ role });
    expect(await cache.get('u', load)).toEqual({ role: 'admin' });
    role = 'viewer';
    await cache.invalidate('u');
    expect(await cache.get('u', load)).toEqual({ role: 'viewer' });
  });

  it('never serves a value loaded before an invalidation that raced with the load', async () => {
    const { cache } = setup();
    let role = 'admin';
    // The reader loads the old row; the change commits and invalidates before the reader stores it.
    const racingLoad = async () => {
      const read = { role };
      role = 'viewer';
      await cache.invalidate('u');
      return read;
    };
    expect(await cache.get('u', racingLoad)).toEqual({ role: 'admin' });
    expect(await cache.get('u', () => Promise.resolve({ role }))).toEqual({ role: 'viewer' });
  });

  it('does not cache a missing value, and treats an unreadable entry as a miss', async () => {
    const { store, cache } = setup();
    let loads = 0;
    expect(await cache.get('gone', () => Promise.resolve((loads++, undefined)))).toBeUndefined();
    expect(await cache.get('gone', () => Promise.resolve((loads++, undefined)))).toBeUndefined();
    expect(loads).toBe(2);
    await store.set('test:v1:bad', '0:not json at all', 30);
    const unreadable = createVersionedCache<string>({
      store,
      namespace: 'test:v1',
      ttlSeconds: 30,
      encode: (value) => value,
      decode: (raw) => (raw.startsWith('{') ? raw : undefined),
    });
    expect(await unreadable.get('bad', () => Promise.resolve('{"fresh":1}'))).toBe('{"fresh":1}');
  });

  it('keeps users apart', async () => {
    const { cache } = setup();
    await cache.get('a', () => Promise.resolve({ role: 'owner' }));
    await cache.invalidate('b');
    expect(await cache.get('a', () => Promise.resolve({ role: 'other' }))).toEqual({ role: 'owner' });
  });
});
