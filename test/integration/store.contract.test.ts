import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteRedisKeys, sleep, waitFor } from '../setup/wait.js';
import { createManualClock } from '../../src/platform/clock.js';
import { createMemoryStore } from '../../src/platform/stores/memory-store.js';
import { createRedisStore } from '../../src/platform/stores/redis-store.js';
import { MAX_MESSAGE_LENGTH, type Store, type Subscription } from '../../src/platform/stores/store.js';
import { redisUrl, uniqueName } from '../setup/environment.js';

/** One store under test, with the way time passes for it. */
interface StoreHarness {
  store: Store;
  /** Memory: moves this store's manual clock (instant). Redis: really waits, since expiry runs on the server. */
  advance(ms: number): Promise<void>;
  /** Milliseconds on the clock that governs this store (manual, or real time for Redis). */
  nowMs(): number;
  /** Closes every connection and timer of this store. */
  close(): Promise<void>;
}

/** How to make stores of one adapter and tidy up after them. */
interface StoreAdapter {
  create(prefix: string): Promise<StoreHarness>;
  /** Deletes every key whose prefix starts with `prefix`. */
  cleanup(prefix: string): Promise<void>;
}


/** The contract every Store adapter must meet; each adapter runs it on its own key prefix. */
function storeContract(name: string, adapter: StoreAdapter): void {
  describe(`Store contract: ${name}`, () => {
    const prefix = uniqueName('t');
    const harnesses: StoreHarness[] = [];
    let store: Store;
    let neighbour: Store;

    const open = async (subPrefix: string): Promise<StoreHarness> => {
      const harness = await adapter.create(`${prefix}${subPrefix}`);
      harnesses.push(harness);
      return harness;
    };

    beforeAll(async () => {
      store = (await open('')).store;
      neighbour = (await open('_other')).store;
    });

    afterAll(async () => {
      await Promise.all(harnesses.map((harness) => harness.close()));
      await adapter.cleanup(prefix);
    });

    // Real time passes on Redis, so these run concurrently (each on its own store and key prefix, so the
    // memory adapter's manual clocks do not interfere) to keep the wall time short with wide margins.
    describe.concurrent('expiry', () => {
      it('expires a value after its TTL', async ({ expect }) => {
        const { store: timed, advance } = await open('_ttl');
        await timed.set('value', 'soon gone', 0.6);
        await advance(200);
        expect(await timed.get('value')).toBe('soon gone');
        await advance(500);
        expect(await timed.get('value')).toBeNull();
      });

      it('sets the increment expiry when the key is created and does not extend it', async ({ expect }) => {
        const { store: timed, advance } = await open('_window');
        expect(await timed.increment('count', 0.6)).toBe(1);
        await advance(200);
        expect(await timed.increment('count', 0.6)).toBe(2);
        await advance(500);
        expect(await timed.get('count')).toBeNull();
        expect(await timed.increment('count', 0.6)).toBe(1);
      });

      it('expires a lock unless extended, and a former owner cannot touch the next holder', async ({ expect }) => {
        const { store: timed, advance } = await open('_lock');
        const first = await timed.acquireLock('lock', 500);
        await advance(150);
        expect(await timed.extendLock('lock', first!, 800)).toBe(true);
        await advance(450); // past the original 500 ms, well within the extension
        expect(await timed.acquireLock('lock', 500)).toBeNull();
        expect(await timed.extendLock('lock', first!, 50)).toBe(true);
        await advance(100);
        const second = await timed.acquireLock('lock', 5_000);
        expect(second).toEqual(expect.any(String));
        expect(second).not.toBe(first);
        expect(await timed.releaseLock('lock', first!)).toBe(false);
        expect(await timed.extendLock('lock', first!, 5_000)).toBe(false);
        expect(await timed.releaseLock('lock', second!)).toBe(true);
      });

      it('lets one more request through per emission interval', async ({ expect }) => {
        const { store: timed, advance, nowMs } = await open('_refill');
        const rule = { limit: 2, windowSeconds: 0.6 }; // one request per 300 ms
        const startedMs = nowMs();
        for (let i = 0; i < 2; i += 1) expect((await timed.consumeRate('rate', rule)).allowed).toBe(true);
        const refused = await timed.consumeRate('rate', rule);
        expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
        await advance(350);
        const burst = await Promise.all(Array.from({ length: 10 }, () => timed.consumeRate('rate', rule)));
        const refilled = burst.filter((decision) => decision.allowed).length;
        // GCRA never passes more than limit + elapsed / interval in all: on the manual clock exactly one
        // more; on Redis a slow machine may have let real time run past a second interval.
        expect(refilled).toBeGreaterThanOrEqual(1);
        expect(refilled).toBeLessThanOrEqual(Math.floor((nowMs() - startedMs) / 300));
      });

      it('gives a lease slot back after its TTL unless renewed, and a lapsed lease stays lost', async ({ expect }) => {
        const { store: timed, advance } = await open('_lease');
        const first = await timed.acquireLease('slots', 2, 500);
        const second = await timed.acquireLease('slots', 2, 500);
        expect([first, second]).toEqual([expect.any(String), expect.any(String)]);
        expect(await timed.acquireLease('slots', 2, 500)).toBeNull();
        await advance(150);
        expect(await timed.renewLease('slots', first!, 800)).toBe(true);
        await advance(450); // the second lease (a process that died) has lapsed; the renewed one holds
        const third = await timed.acquireLease('slots', 2, 5_000);
        expect(third).toEqual(expect.any(String));
        expect(await timed.acquireLease('slots', 2, 5_000)).toBeNull();
        expect(await timed.renewLease('slots', second!, 5_000)).toBe(false);
        expect(await timed.releaseLease('slots', second!)).toBe(false);
        expect(await timed.releaseLease('slots', first!)).toBe(true);
        expect(await timed.acquireLease('slots', 2, 5_000)).toEqual(expect.any(String));
      });

      it('raises a floor monotonically, measures it on the store clock, and lets it pass', async ({ expect }) => {
        const { store: timed, advance } = await open('_floor');
        expect(await timed.floorRemainingMs('floor')).toBe(0);
        expect(await timed.raiseFloor('floor', 600)).toBe(600);
        const kept = await timed.raiseFloor('floor', 100); // a shorter Retry-After never lowers the floor
        expect(kept).toBeGreaterThan(100);
        expect(kept).toBeLessThanOrEqual(600);
        await advance(300);
        const left = await timed.floorRemainingMs('floor');
        expect(left).toBeGreaterThan(0);
        expect(left).toBeLessThanOrEqual(300);
        expect(await timed.raiseFloor('floor', 500)).toBe(500);
        await advance(600);
        expect(await timed.floorRemainingMs('floor')).toBe(0);
      });
    });

    describe('leases (counting semaphore)', () => {
      it('is a counting semaphore: of 50 concurrent acquirers exactly the limit win', async () => {
        const tokens = await Promise.all(Array.from({ length: 50 }, () => store.acquireLease('lease:race', 5, 5_000)));
        const won = tokens.filter((token) => token !== null);
        expect(won).toHaveLength(5);
        expect(new Set(won).size).toBe(5);
      });

      it('frees a slot on release, only for the holder, and keeps separate keys separate', async () => {
        const token = await store.acquireLease('lease:one', 1, 5_000);
        expect(await store.acquireLease('lease:one', 1, 5_000)).toBeNull();
        expect(await store.acquireLease('lease:two', 1, 5_000)).toEqual(expect.any(String));
        expect(await store.releaseLease('lease:one', 'not-the-holder')).toBe(false);
        expect(await store.renewLease('lease:one', 'not-the-holder', 5_000)).toBe(false);
        expect(await store.acquireLease('lease:one', 1, 5_000)).toBeNull();
        expect(await store.releaseLease('lease:one', token!)).toBe(true);
        expect(await store.releaseLease('lease:one', token!)).toBe(false);
        expect(await store.renewLease('lease:one', token!, 5_000)).toBe(false);
        expect(await store.acquireLease('lease:one', 1, 5_000)).toEqual(expect.any(String));
      });

      it('counts against the limit given on each call (a lowered limit admits no one until slots free)', async () => {
        expect(await store.acquireLease('lease:shrink', 3, 5_000)).toEqual(expect.any(String));
        expect(await store.acquireLease('lease:shrink', 3, 5_000)).toEqual(expect.any(String));
        expect(await store.acquireLease('lease:shrink', 1, 5_000)).toBeNull();
        expect(await store.acquireLease('lease:shrink', 3, 5_000)).toEqual(expect.any(String));
      });

      it('rejects a bad limit or TTL as a bug', async () => {
        await expect(store.acquireLease('lease:bad', 0, 5_000)).rejects.toThrow(RangeError);
        await expect(store.acquireLease('lease:bad', 1.5, 5_000)).rejects.toThrow(RangeError);
        await expect(store.acquireLease('lease:bad', 1, 0)).rejects.toThrow(RangeError);
        await expect(store.renewLease('lease:bad', 'x', -1)).rejects.toThrow(RangeError);
        await expect(store.raiseFloor('floor:bad', 0)).rejects.toThrow(RangeError);
      });
    });

    describe('admission (floor, slot and rate token in one call)', () => {
      const keys = { floor: 'admit:floor', lease: 'admit:lease', rate: 'admit:rate' };
      const twoPerMinute = { limit: 2, windowSeconds: 60 };

      it('refuses while a floor holds, while the slots are taken, or on the rate, and a refusal takes nothing', async () => {
        await store.raiseFloor(keys.floor, 5_000);
        const floored = await store.admit(keys, 1, 5_000, twoPerMinute);
        expect(floored).toMatchObject({ admitted: false, reason: 'floor' });
        expect(floored.admitted === false && floored.reason === 'floor' && floored.waitMs).toBeGreaterThan(4_000);
        await store.delete(keys.floor);

        const first = await store.admit(keys, 1, 5_000, twoPerMinute);
        expect(first).toEqual({ admitted: true, token: expect.any(String) });
        for (let i = 0; i < 3; i += 1) expect(await store.admit(keys, 1, 5_000, twoPerMinute)).toEqual({ admitted: false, reason: 'slots' });
        expect(await store.releaseLease(keys.lease, (first as { token: string }).token)).toBe(true);
        // The three refusals spent no rate token: the second of two per minute is still there.
        const second = await store.admit(keys, 1, 5_000, twoPerMinute);
        expect(second).toEqual({ admitted: true, token: expect.any(String) });
        expect(second).not.toEqual(first);
        expect(await store.releaseLease(keys.lease, (second as { token: string }).token)).toBe(true);
        // Burst spent: the wait is exact (30 s emission interval), and the refusal held no slot.
        const limited = await store.admit(keys, 1, 5_000, twoPerMinute);
        expect(limited).toMatchObject({ admitted: false, reason: 'rate' });
        const waitMs = limited.admitted === false && limited.reason === 'rate' ? limited.waitMs : 0;
        expect(waitMs).toBeGreaterThan(29_000);
        expect(waitMs).toBeLessThanOrEqual(30_000);
        expect(await store.acquireLease(keys.lease, 1, 5_000)).toEqual(expect.any(String));
      });

      it('admits exactly the slot limit of 50 concurrent callers', async () => {
        const race = { floor: 'admit:race:floor', lease: 'admit:race:lease', rate: 'admit:race:rate' };
        const admissions = await Promise.all(Array.from({ length: 50 }, () => store.admit(race, 5, 5_000, { limit: 1_000, windowSeconds: 1 })));
        const tokens = admissions.flatMap((admission) => (admission.admitted ? [admission.token] : []));
        expect(new Set(tokens).size).toBe(5);
        expect(admissions.filter((admission) => !admission.admitted && admission.reason === 'slots')).toHaveLength(45);
      });

      it('rejects a bad limit, TTL or rule as a bug', async () => {
        await expect(store.admit(keys, 0, 5_000, twoPerMinute)).rejects.toThrow(RangeError);
        await expect(store.admit(keys, 1, 0, twoPerMinute)).rejects.toThrow(RangeError);
        await expect(store.admit(keys, 1, 5_000, { limit: 0, windowSeconds: 1 })).rejects.toThrow(RangeError);
      });
    });

    describe('values', () => {
      it('sets several keys with one TTL in one call', async () => {
        await store.setMany(['bulk:a', 'bulk:b'], '1', 60);
        expect(await store.getMany(['bulk:a', 'bulk:b', 'bulk:c'])).toEqual(['1', '1', null]);
        await expect(store.setMany([], '1', 60)).resolves.toBeUndefined();
        await expect(store.setMany(['bulk:d'], '1', 0)).rejects.toThrow(RangeError);
      });

      it('deletes several keys in one call, ignoring missing ones', async () => {
        await store.setMany(['gone:a', 'gone:b', 'gone:c'], '1', 60);
        await store.deleteMany(['gone:a', 'gone:b', 'gone:missing']);
        expect(await store.getMany(['gone:a', 'gone:b', 'gone:c'])).toEqual([null, null, '1']);
        await expect(store.deleteMany([])).resolves.toBeUndefined();
      });

      it('gets what was set, overwrites, and deletes', async () => {
        expect(await store.get('value:missing')).toBeNull();
        await store.set('value:a', 'one', 60);
        expect(await store.get('value:a')).toBe('one');
        await store.set('value:a', 'two', 60);
        expect(await store.get('value:a')).toBe('two');
        await store.delete('value:a');
        expect(await store.get('value:a')).toBeNull();
        await expect(store.delete('value:a')).resolves.toBeUndefined();
      });

      it('reads several values in one call, in order, null for the missing', async () => {
        await store.set('many:a', 'one', 60);
        await store.set('many:c', 'three', 60);
        expect(await store.getMany(['many:a', 'many:b', 'many:c', 'many:a'])).toEqual(['one', null, 'three', 'one']);
        expect(await store.getMany([])).toEqual([]);
      });

      it('keeps values byte for byte', async () => {
        const value = 'naïve \u0000 \u202e 🧪 "quoted" \n';
        await store.set('value:unicode', value, 60);
        expect(await store.get('value:unicode')).toBe(value);
      });

      it('namespaces keys by prefix', async () => {
        await store.set('value:shared-name', 'mine', 60);
        expect(await neighbour.get('value:shared-name')).toBeNull();
      });

      it('rejects a missing or non-positive TTL as a bug', async () => {
        await expect(store.set('value:bad', 'x', 0)).rejects.toThrow(RangeError);
        await expect(store.increment('value:bad', -1)).rejects.toThrow(RangeError);
      });
    });

    describe('increment', () => {
      it('counts from 1', async () => {
        expect(await store.increment('count:simple', 60)).toBe(1);
        expect(await store.increment('count:simple', 60)).toBe(2);
        expect(await store.get('count:simple')).toBe('2');
      });

      it('is atomic under 200 concurrent calls', async () => {
        const results = await Promise.all(Array.from({ length: 200 }, () => store.increment('count:concurrent', 60)));
        expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
        expect(await store.get('count:concurrent')).toBe('200');
      });
    });

    describe('consumeRate (GCRA)', () => {
      it('reports the limit and what is left', async () => {
        const decision = await store.consumeRate('rate:first', { limit: 5, windowSeconds: 60 });
        expect(decision).toMatchObject({ allowed: true, limit: 5, remaining: 4, retryAfterSeconds: 0 });
        expect(decision.resetSeconds).toBeGreaterThanOrEqual(1);
        expect(decision.resetSeconds).toBeLessThanOrEqual(60);
      });

      it('accepts between L and 1.05·L of a burst within one window', async () => {
        const rule = { limit: 100, windowSeconds: 60 };
        const decisions = await Promise.all(Array.from({ length: 300 }, () => store.consumeRate('rate:burst', rule)));
        const accepted = decisions.filter((decision) => decision.allowed).length;
        expect(accepted).toBeGreaterThanOrEqual(rule.limit);
        expect(accepted).toBeLessThanOrEqual(rule.limit * 1.05);
        for (const refused of decisions.filter((decision) => !decision.allowed)) {
          expect(refused.remaining).toBe(0);
          expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
          expect(refused.resetSeconds).toBeLessThanOrEqual(rule.windowSeconds + 1);
        }
      });

      it('keeps separate keys separate', async () => {
        const rule = { limit: 1, windowSeconds: 60 };
        expect((await store.consumeRate('rate:alice', rule)).allowed).toBe(true);
        expect((await store.consumeRate('rate:alice', rule)).allowed).toBe(false);
        expect((await store.consumeRate('rate:bob', rule)).allowed).toBe(true);
      });

      it('rejects an invalid rule as a bug', async () => {
        await expect(store.consumeRate('rate:bad', { limit: 0, windowSeconds: 60 })).rejects.toThrow(RangeError);
        await expect(store.consumeRate('rate:bad', { limit: 5, windowSeconds: 0 })).rejects.toThrow(RangeError);
      });
    });

    describe('locks', () => {
      it('is exclusive: of 20 concurrent acquirers exactly one wins', async () => {
        const tokens = await Promise.all(Array.from({ length: 20 }, () => store.acquireLock('lock:race', 5_000)));
        expect(tokens.filter((token) => token !== null)).toHaveLength(1);
      });

      it('lets only the owner extend or release it', async () => {
        const token = await store.acquireLock('lock:owned', 5_000);
        expect(token).toEqual(expect.any(String));
        expect(await store.acquireLock('lock:owned', 5_000)).toBeNull();
        expect(await store.releaseLock('lock:owned', 'not-the-owner')).toBe(false);
        expect(await store.extendLock('lock:owned', 'not-the-owner', 5_000)).toBe(false);
        expect(await store.acquireLock('lock:owned', 5_000)).toBeNull();
        expect(await store.extendLock('lock:owned', token!, 5_000)).toBe(true);
        expect(await store.releaseLock('lock:owned', token!)).toBe(true);
        expect(await store.releaseLock('lock:owned', token!)).toBe(false);
        expect(await store.acquireLock('lock:owned', 5_000)).toEqual(expect.any(String));
      });

      it('rejects a non-positive or fractional lock TTL as a bug', async () => {
        await expect(store.acquireLock('lock:bad', 0)).rejects.toThrow(RangeError);
        await expect(store.acquireLock('lock:bad', 1.5)).rejects.toThrow(RangeError);
      });
    });

    describe('pub/sub', () => {
      const listen = (on: Store, channel: string) => {
        const messages: string[] = [];
        const liveness: boolean[] = [];
        const subscription: Subscription = on.subscribe(channel, {
          onMessage: (message) => messages.push(message),
          onLiveChange: (live) => liveness.push(live),
        });
        return { messages, liveness, subscription };
      };
      // Delivery is asynchronous on Redis (another connection): poll, bounded.
      const soon = (condition: () => boolean) => waitFor(condition, 5_000, 10);

      it('delivers to every subscriber of the channel, in order, and to no other channel', async () => {
        const first = listen(store, 'ps:news');
        const second = listen(store, 'ps:news');
        const other = listen(store, 'ps:other');
        await soon(() => first.subscription.live && second.subscription.live && other.subscription.live);
        await store.publish('ps:news', 'one');
        await store.publish('ps:news', 'two');
        await soon(() => first.messages.length === 2 && second.messages.length === 2);
        expect(first.messages).toEqual(['one', 'two']);
        expect(second.messages).toEqual(['one', 'two']);
        await store.publish('ps:other', 'done');
        await soon(() => other.messages.length === 1);
        expect(other.messages).toEqual(['done']);
        expect(first.messages).toHaveLength(2);
      });

      it('namespaces channels by prefix', async () => {
        const mine = listen(store, 'ps:shared-name');
        const theirs = listen(neighbour, 'ps:shared-name');
        await soon(() => mine.subscription.live && theirs.subscription.live);
        await store.publish('ps:shared-name', 'for my prefix');
        await soon(() => mine.messages.length === 1);
        await sleep(50);
        expect(theirs.messages).toEqual([]);
      });

      it('rejects an oversized message or a nameless channel as a bug', async () => {
        await expect(store.publish('ps:big', 'x'.repeat(MAX_MESSAGE_LENGTH + 1))).rejects.toThrow(RangeError);
        await expect(store.publish('', 'x')).rejects.toThrow(RangeError);
        expect(() => store.subscribe('', { onMessage: () => undefined, onLiveChange: () => undefined })).toThrow(RangeError);
      });

      it('stops being live when the store closes', async () => {
        const { store: closing, close } = await open('_closing');
        const listener = listen(closing, 'ps:closing');
        await soon(() => listener.subscription.live);
        await close();
        expect(listener.subscription.live).toBe(false);
      });
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

storeContract('memory', {
  create: (prefix) => {
    const clock = createManualClock();
    const store = createMemoryStore({ clock, prefix });
    const advance = (ms: number) => {
      clock.advance(ms);
      return Promise.resolve();
    };
    return Promise.resolve({ store, advance, nowMs: () => clock.nowMs(), close: () => store.close() });
  },
  cleanup: () => Promise.resolve(),
});

describe.runIf(Boolean(redisUrl()))('with Redis', () => {
  const url = redisUrl()!;
  storeContract('redis', {
    create: async (prefix) => {
      const store = await createRedisStore({ url, prefix });
      return { store, advance: sleep, nowMs: () => performance.now(), close: () => store.close() };
    },
    cleanup: (prefix) => deleteKeys(url, prefix),
  });
});

// Keys carry TTLs anyway; deleting them keeps the shared Redis tidy between runs. The prefix is unique
// to this run, so the wildcard only matches this file's keys.
async function deleteKeys(url: string, prefix: string): Promise<void> {
  const admin = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    await deleteRedisKeys(admin, prefix);
  } finally {
    await admin.quit();
  }
}
