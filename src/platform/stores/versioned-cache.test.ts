import { describe, expect, it, vi } from 'vitest';
import { createManualClock } from '../clock.js';
import { createMemoryStore } from './memory-store.js';
import type { Store, SubscriptionListener } from './store.js';
import { createVersionedCache } from './versioned-cache.js';

type CacheStore = Pick<Store, 'getMany' | 'set' | 'increment' | 'publish' | 'subscribe'>;

const cacheOn = (store: CacheStore, clock: { nowMs(): number }) =>
  createVersionedCache<{ role: string }>({
    store,
    namespace: 'test:v1',
    ttlSeconds: 30,
    encode: (value) => JSON.stringify(value),
    decode: (raw) => JSON.parse(raw) as { role: string },
    clock,
  });

const setup = () => {
  const clock = createManualClock();
  const store = createMemoryStore({ clock });
  const cache = cacheOn(store, clock);
  return { clock, store, cache };
};

/**
 * Two "processes" on one shared store: each sees the store through its own pub/sub link, which the
 * test can cut (messages sent meanwhile are lost, as with Redis pub/sub) and restore.
 */
const twoProcesses = () => {
  const clock = createManualClock();
  const shared = createMemoryStore({ clock });
  const process = () => {
    let live = true;
    const listeners: SubscriptionListener[] = [];
    const store: CacheStore = {
      getMany: vi.fn((keys: readonly string[]) => shared.getMany(keys)),
      set: (key, value, ttl) => shared.set(key, value, ttl),
      increment: (key, ttl) => shared.increment(key, ttl),
      publish: (channel, message) => shared.publish(channel, message),
      subscribe: (channel, listener) => {
        listeners.push(listener);
        shared.subscribe(channel, { onMessage: (message) => live && listener.onMessage(message), onLiveChange: () => undefined });
        return {
          get live() {
            return live;
          },
        };
      },
    };
    const setLive = (next: boolean) => {
      live = next;
      for (const listener of listeners) listener.onLiveChange(next);
    };
    const cache = cacheOn(store, clock);
    return { cache, setLive, storeReads: () => vi.mocked(store.getMany).mock.calls.length, store };
  };
  return { clock, a: process(), b: process() };
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
      clock: createManualClock(),
      namespace: 'test:v1',
      ttlSeconds: 30,
      encode: (value) => value,
      decode: (raw) => (raw.startsWith('{') ? raw : undefined),
    });
    expect(await unreadable.get('bad', () => Promise.resolve('{"fresh":1}'))).toBe('{"fresh":1}');
  });

  it('serves repeat reads from the process, without the store, for a few seconds at most', async () => {
    const { clock, a } = twoProcesses();
    const load = () => Promise.resolve({ role: 'admin' });
    await a.cache.get('u', load);
    expect(a.storeReads()).toBe(1);
    for (let i = 0; i < 5; i += 1) expect(await a.cache.get('u', load)).toEqual({ role: 'admin' });
    expect(a.storeReads()).toBe(1);
    clock.advance(5_000);
    expect(await a.cache.get('u', load)).toEqual({ role: 'admin' });
    expect(a.storeReads()).toBe(2);
  });

  it('an invalidation in one process drops the copy in the other before its next read', async () => {
    const { a, b } = twoProcesses();
    let role = 'admin';
    const load = () => Promise.resolve({ role });
    await a.cache.get('u', load);
    await b.cache.get('u', load);
    expect(b.cache.local.get('u')).toBeDefined();
    role = 'viewer';
    await a.cache.invalidate('u');
    expect(b.cache.local.get('u')).toBeUndefined();
    expect(await b.cache.get('u', load)).toEqual({ role: 'viewer' });
    expect(await a.cache.get('u', load)).toEqual({ role: 'viewer' });
  });

  it('does not keep a value read from the store while an invalidation arrived', async () => {
    const { a, b } = twoProcesses();
    let role = 'admin';
    const load = () => Promise.resolve({ role });
    await a.cache.get('u', load);
    // b reads the old entry; before its reply is handled, a commits a change and invalidates, and
    // the message reaches b (which holds no copy yet, so it drops nothing).
    const read = vi.mocked(b.store.getMany).getMockImplementation()!;
    vi.mocked(b.store.getMany).mockImplementationOnce(async (keys) => {
      const reply = await read(keys);
      role = 'viewer';
      await a.cache.invalidate('u');
      return reply;
    });
    expect(await b.cache.get('u', load)).toEqual({ role: 'admin' });
    expect(b.cache.local.get('u')).toBeUndefined();
    expect(await b.cache.get('u', load)).toEqual({ role: 'viewer' });
  });

  it('does not keep a value loaded while an invalidation arrived from another process', async () => {
    const { a, b } = twoProcesses();
    let role = 'admin';
    const racingLoad = async () => {
      const read = { role };
      role = 'viewer';
      await a.cache.invalidate('u');
      return read;
    };
    expect(await b.cache.get('u', racingLoad)).toEqual({ role: 'admin' });
    expect(await b.cache.get('u', () => Promise.resolve({ role }))).toEqual({ role: 'viewer' });
  });

  it('reads the store on every call while the channel is not live, and drops every copy when it comes back', async () => {
    const { a, b } = twoProcesses();
    let role = 'admin';
    const load = () => Promise.resolve({ role });
    await b.cache.get('u', load);
    b.setLive(false);
    const readsBefore = b.storeReads();
    await b.cache.get('u', load);
    await b.cache.get('u', load);
    expect(b.storeReads()).toBe(readsBefore + 2);
    // This message is lost for b; the generation in the store still tells it.
    role = 'viewer';
    await a.cache.invalidate('u');
    expect(await b.cache.get('u', load)).toEqual({ role: 'viewer' });
    b.setLive(true);
    expect(b.cache.local.size).toBe(0);
    expect(await b.cache.get('u', load)).toEqual({ role: 'viewer' });
    expect(b.cache.local.get('u')).toBeDefined();
  });

  it('keeps users apart', async () => {
    const { cache } = setup();
    await cache.get('a', () => Promise.resolve({ role: 'owner' }));
    await cache.invalidate('b');
    expect(await cache.get('a', () => Promise.resolve({ role: 'other' }))).toEqual({ role: 'owner' });
  });
});
