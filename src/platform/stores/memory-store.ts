import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { gcraParameters, gcraStep } from './gcra.js';
import {
  MAX_SUBSCRIPTIONS,
  checkMessage,
  checkTtlMs,
  prefixKey,
  ttlSecondsToMs,
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
}

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

  return {
    get: (key) => settle(() => live(prefixKey(prefix, key))?.value ?? null),
    getMany: (keys) => settle(() => keys.map((key) => live(prefixKey(prefix, key))?.value ?? null)),

    set: (key, value, ttlSeconds) =>
      settle(() => {
        entries.set(prefixKey(prefix, key), { value, expiresAtMs: clock.nowMs() + ttlSecondsToMs(ttlSeconds) });
      }),

    delete: (key) =>
      settle(() => {
        entries.delete(prefixKey(prefix, key));
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
