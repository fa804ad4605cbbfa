import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { gcraParameters, gcraStep } from './gcra.js';
import {
  MAX_SUBSCRIPTIONS,
  checkLeaseLimit,
  checkMessage,
  checkTtlMs,
  createTokenSource,
  prefixKey,
  ttlSecondsToMs,
  type Admission,
  type RateDecision,
  type RateRule,
  type Store,
  type StoreLogger,
  type SubscriptionListener,
} from './store.js';

/** Options of the embedded (single-process) store. */
export interface MemoryStoreOptions {
  /** Decides every expiry, so tests move time by hand instead of sleeping. */
  clock: Clock;
  /** Namespace for keys, as in the Redis adapter. */
  prefix?: string;
  /** How often expired keys are swept (real time). Default 30 s. */
  sweepIntervalMs?: number;
  /** Told when a subscriber's listener throws (a bug that must not stop delivery to the others). */
  logger?: StoreLogger;
}

/** The memory adapter; sweepExpired is exposed so tests can check the store stays bounded. */
export interface MemoryStore extends Store {
  /** Drops every expired key now; returns how many were dropped. */
  sweepExpired(): number;
  /** Keys currently held, expired or not. */
  readonly size: number;
}

// Bad arguments reject like any other store failure instead of throwing synchronously.
function settle<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

interface Entry {
  value: string;
  expiresAtMs: number;
  /** A lease set (acquireLease): token → expiry; the entry expires with its last lease. */
  leases?: Map<string, number>;
}

// Like Redis WRONGTYPE: a caller reading a lease set as a value, or the reverse, mixes key purposes.
const valueOf = (key: string, entry: Entry | undefined): string | null => {
  if (entry?.leases) throw new Error(`value at ${key} is a lease set`);
  return entry?.value ?? null;
};

/**
 * Embedded mode: one Map shared by cache, counters, rate limits and locks, like one Redis keyspace. Every
 * key has a TTL, and expired keys go on read and on a periodic sweep, so memory stays bounded by traffic
 * within the longest TTL. JavaScript runs each method to completion, so no operation needs a lock.
 */
export function createMemoryStore(options: MemoryStoreOptions): MemoryStore {
  const { clock } = options;
  const prefix = options.prefix ?? '';
  const entries = new Map<string, Entry>();
  // Pub/sub within the one process: delivery is synchronous and cannot be lost, so a subscription is
  // live from the start until the store closes.
  const listeners = new Map<string, Set<SubscriptionListener>>();
  let subscriptions = 0;
  let closed = false;
  const leaseToken = createTokenSource(randomBytes(12).toString('base64url'));

  const live = (fullKey: string): Entry | undefined => {
    const entry = entries.get(fullKey);
    if (entry && entry.expiresAtMs <= clock.nowMs()) {
      entries.delete(fullKey);
      return undefined;
    }
    return entry;
  };

  const sweepExpired = (): number => {
    const nowMs = clock.nowMs();
    let dropped = 0;
    for (const [fullKey, entry] of entries) {
      if (entry.expiresAtMs <= nowMs) {
        entries.delete(fullKey);
        dropped += 1;
      }
    }
    return dropped;
  };

  // unref: the sweep must never keep a process (or a test run) alive.
  const sweeper = setInterval(sweepExpired, options.sweepIntervalMs ?? 30_000);
  sweeper.unref();

  const ownedBy = (fullKey: string, token: string): Entry | undefined => {
    const entry = live(fullKey);
    return entry?.value === token ? entry : undefined;
  };

  // The unexpired leases at `key` (an empty set when there are none); expired ones are dropped first,
  // as the Redis script does, so they never count against the limit.
  const liveLeases = (key: string): Map<string, number> => {
    const entry = live(prefixKey(prefix, key));
    if (entry && !entry.leases) throw new Error(`value at ${key} is not a lease set`);
    const leases = entry?.leases ?? new Map<string, number>();
    const nowMs = clock.nowMs();
    for (const [token, expiresAtMs] of leases) if (expiresAtMs <= nowMs) leases.delete(token);
    return leases;
  };

  // Stores the set with the expiry of its last lease, or drops it when empty (as Redis drops an empty set).
  const keepLeases = (key: string, leases: Map<string, number>): void => {
    const fullKey = prefixKey(prefix, key);
    if (leases.size === 0) {
      entries.delete(fullKey);
      return;
    }
    entries.set(fullKey, { value: '', expiresAtMs: Math.max(...leases.values()), leases });
  };

  return {
    get: (key) => settle(() => valueOf(key, live(prefixKey(prefix, key)))),
    getMany: (keys) => settle(() => keys.map((key) => valueOf(key, live(prefixKey(prefix, key))))),

    set: (key, value, ttlSeconds) =>
      settle(() => {
        entries.set(prefixKey(prefix, key), { value, expiresAtMs: clock.nowMs() + ttlSecondsToMs(ttlSeconds) });
      }),

    setMany: (keys, value, ttlSeconds) =>
      settle(() => {
        const expiresAtMs = clock.nowMs() + ttlSecondsToMs(ttlSeconds);
        for (const key of keys) entries.set(prefixKey(prefix, key), { value, expiresAtMs });
      }),

    delete: (key) =>
      settle(() => {
        entries.delete(prefixKey(prefix, key));
      }),

    deleteMany: (keys) =>
      settle(() => {
        for (const key of keys) entries.delete(prefixKey(prefix, key));
      }),

    increment: (key, ttlSeconds) =>
      settle(() => {
        const ttlMs = ttlSecondsToMs(ttlSeconds);
        const fullKey = prefixKey(prefix, key);
        const entry = live(fullKey);
        if (!entry) {
          entries.set(fullKey, { value: '1', expiresAtMs: clock.nowMs() + ttlMs });
          return 1;
        }
        // Same failure as Redis INCR on a non-integer value: a caller mixing key purposes is a bug.
        if (!/^-?\d+$/.test(entry.value)) throw new Error(`value at ${key} is not an integer`);
        const next = Number(entry.value) + 1;
        entry.value = String(next);
        return next;
      }),

    consumeRate: (key: string, rule: RateRule): Promise<RateDecision> =>
      settle(() => {
        const parameters = gcraParameters(rule);
        const fullKey = prefixKey(prefix, key);
        const stored = live(fullKey);
        const nowMs = clock.nowMs();
        const step = gcraStep(stored ? Number(stored.value) : null, nowMs * 1000, parameters);
        if (step.nextTatUs !== null) {
          entries.set(fullKey, { value: String(step.nextTatUs), expiresAtMs: nowMs + step.ttlMs });
        }
        return step.decision;
      }),

    acquireLock: (key, ttlMs) =>
      settle(() => {
        checkTtlMs(ttlMs);
        const fullKey = prefixKey(prefix, key);
        if (live(fullKey)) return null;
        const token = randomBytes(16).toString('base64url');
        entries.set(fullKey, { value: token, expiresAtMs: clock.nowMs() + ttlMs });
        return token;
      }),

    extendLock: (key, token, ttlMs) =>
      settle(() => {
        checkTtlMs(ttlMs);
        const entry = ownedBy(prefixKey(prefix, key), token);
        if (entry) entry.expiresAtMs = clock.nowMs() + ttlMs;
        return entry !== undefined;
      }),

    releaseLock: (key, token) =>
      settle(() => {
        const fullKey = prefixKey(prefix, key);
        const owned = ownedBy(fullKey, token) !== undefined;
        if (owned) entries.delete(fullKey);
        return owned;
      }),

    acquireLease: (key, limit, ttlMs) =>
      settle(() => {
        checkLeaseLimit(limit);
        checkTtlMs(ttlMs);
        const leases = liveLeases(key);
        if (leases.size >= limit) return null;
        const token = leaseToken();
        leases.set(token, clock.nowMs() + ttlMs);
        keepLeases(key, leases);
        return token;
      }),

    // The same order as the Redis script: floor, slot, rate; nothing is written unless all three pass.
    admit: (keys, limit, ttlMs, rule): Promise<Admission> =>
      settle((): Admission => {
        checkLeaseLimit(limit);
        checkTtlMs(ttlMs);
        const parameters = gcraParameters(rule);
        const floor = live(prefixKey(prefix, keys.floor));
        valueOf(keys.floor, floor);
        const nowMs = clock.nowMs();
        if (floor) return { admitted: false, reason: 'floor', waitMs: floor.expiresAtMs - nowMs };
        const leases = liveLeases(keys.lease);
        if (leases.size >= limit) {
          keepLeases(keys.lease, leases);
          return { admitted: false, reason: 'slots' };
        }
        const rateKey = prefixKey(prefix, keys.rate);
        const stored = live(rateKey);
        const step = gcraStep(stored ? Number(stored.value) : null, nowMs * 1000, parameters);
        if (step.nextTatUs === null) return { admitted: false, reason: 'rate', waitMs: Math.ceil(step.retryUs / 1000) };
        entries.set(rateKey, { value: String(step.nextTatUs), expiresAtMs: nowMs + step.ttlMs });
        const token = leaseToken();
        leases.set(token, nowMs + ttlMs);
        keepLeases(keys.lease, leases);
        return { admitted: true, token };
      }),

    renewLease: (key, token, ttlMs) =>
      settle(() => {
        checkTtlMs(ttlMs);
        const leases = liveLeases(key);
        if (!leases.has(token)) return false;
        leases.set(token, clock.nowMs() + ttlMs);
        keepLeases(key, leases);
        return true;
      }),

    releaseLease: (key, token) =>
      settle(() => {
        const leases = liveLeases(key);
        const held = leases.delete(token);
        keepLeases(key, leases);
        return held;
      }),

    raiseFloor: (key, delayMs) =>
      settle(() => {
        checkTtlMs(delayMs);
        const fullKey = prefixKey(prefix, key);
        const entry = live(fullKey);
        const nowMs = clock.nowMs();
        valueOf(key, entry);
        if (entry) entry.expiresAtMs = Math.max(entry.expiresAtMs, nowMs + delayMs);
        else entries.set(fullKey, { value: '1', expiresAtMs: nowMs + delayMs });
        return (entry?.expiresAtMs ?? nowMs + delayMs) - nowMs;
      }),

    floorRemainingMs: (key) =>
      settle(() => {
        const entry = live(prefixKey(prefix, key));
        valueOf(key, entry);
        return entry ? entry.expiresAtMs - clock.nowMs() : 0;
      }),

    publish: (channel, message) =>
      settle(() => {
        checkMessage(channel, message);
        // A copy: a listener that subscribes while being told must not be told the same message.
        for (const listener of [...(listeners.get(channel) ?? [])]) {
          try {
            listener.onMessage(message);
          } catch (error) {
            options.logger?.warn({ err: { message: error instanceof Error ? error.message : String(error) }, channel }, 'store subscriber failed on a message');
          }
        }
      }),

    subscribe: (channel, listener) => {
      checkMessage(channel, '');
      if (closed) throw new Error('the store is closed');
      if (subscriptions >= MAX_SUBSCRIPTIONS) throw new RangeError(`a store has at most ${MAX_SUBSCRIPTIONS} subscriptions`);
      subscriptions += 1;
      const set = listeners.get(channel) ?? new Set<SubscriptionListener>();
      set.add(listener);
      listeners.set(channel, set);
      return {
        get live() {
          return !closed;
        },
      };
    },

    ping: () => Promise.resolve(),

    close: () =>
      settle(() => {
        clearInterval(sweeper);
        entries.clear();
        closed = true;
        listeners.clear();
      }),

    sweepExpired,

    get size() {
      return entries.size;
    },
  };
}
