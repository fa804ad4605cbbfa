/**
 * The one small key-value contract behind cache, counters, rate limits and locks. It has exactly two
 * adapters, memory (embedded mode) and Redis (server mode), and both pass the same contract tests.
 */

/** A rate-limit rule: at most `limit` requests per `windowSeconds`, with a burst of `limit`. */
export interface RateRule {
  limit: number;
  windowSeconds: number;
}

/** The outcome of one GCRA rate-limit check; the fields map onto RateLimit-* and Retry-After headers. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Requests that could still pass right now. */
  remaining: number;
  /** Seconds until the full limit is available again. */
  resetSeconds: number;
  /** Seconds to wait before the next request can pass; 0 when allowed. */
  retryAfterSeconds: number;
}

/** The keys one admission reads and writes (a floor, a lease set, a GCRA state). */
export interface AdmissionKeys {
  floor: string;
  lease: string;
  rate: string;
}

/** What `admit` decided: the lease token, or why not and (for a floor or the rate) how long to wait. */
export type Admission =
  | { admitted: true; token: string }
  | { admitted: false; reason: 'floor' | 'rate'; waitMs: number }
  | { admitted: false; reason: 'slots' };

/** Key-value store; every key is namespaced by the prefix the store was created with. */
export interface Store {
  get(key: string): Promise<string | null>;
  /** Several values in one round trip, in the order of `keys` (null for each missing one). */
  getMany(keys: readonly string[]): Promise<Array<string | null>>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Sets every key of `keys` to `value` with one TTL, in one round trip (not atomically as a group). */
  setMany(keys: readonly string[], value: string, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Deletes every key of `keys` in one round trip (missing keys are ignored). */
  deleteMany(keys: readonly string[]): Promise<void>;
  /** Atomically adds one; the expiry is set when the key is created and never extended by later calls. */
  increment(key: string, ttlSeconds: number): Promise<number>;
  /** Atomic GCRA check-and-consume of one request. */
  consumeRate(key: string, rule: RateRule): Promise<RateDecision>;
  /** Takes the lock if free; returns the owner token, or null when someone else holds it. */
  acquireLock(key: string, ttlMs: number): Promise<string | null>;
  /** Resets the lock's expiry, only if `token` still owns it. */
  extendLock(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Deletes the lock, only if `token` still owns it (compare-and-delete). */
  releaseLock(key: string, token: string): Promise<boolean>;
  /**
   * Counting semaphore with expiring leases: takes one of `limit` slots for `ttlMs` and returns its
   * token, or null when `limit` unexpired leases are held. Expired leases are dropped before counting,
   * so the slots of a process that died come back after the TTL without anyone releasing them.
   */
  acquireLease(key: string, limit: number, ttlMs: number): Promise<string | null>;
  /** Resets the lease's expiry to now + ttlMs, only if it has not expired; false if it has (slot lost). */
  renewLease(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Gives the slot back; false when the lease had already expired or was released. */
  releaseLease(key: string, token: string): Promise<boolean>;
  /**
   * One admission of a limited call, atomically and in one round trip: refused while the floor at
   * `keys.floor` has not passed, or while `limit` unexpired leases are held at `keys.lease`; otherwise
   * one request of `rule` is consumed by GCRA at `keys.rate` and a lease of `ttlMs` is taken. A refusal
   * changes nothing (no token spent, no slot held), so a caller that must wait holds nothing meanwhile.
   */
  admit(keys: AdmissionKeys, limit: number, ttlMs: number, rule: RateRule): Promise<Admission>;
  /**
   * A shared "not before" time, kept as time remaining (the store's own clock decides, so processes
   * with skewed clocks agree): raises it to at least `delayMs` from now, never lowers it (monotonic
   * max). Returns the milliseconds now remaining.
   */
  raiseFloor(key: string, delayMs: number): Promise<number>;
  /** Milliseconds until the floor at `key` passes; 0 when there is none. */
  floorRemainingMs(key: string): Promise<number>;
  /**
   * Sends `message` to every current subscriber of `channel`, in every process sharing this store and
   * prefix. At most once: a subscriber that is not live when it is sent never gets it.
   */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Listens on `channel` until the store closes. Delivery has no history, so `live` says whether
   * messages are arriving right now, and onLiveChange fires on every change: whoever keeps state that
   * messages keep fresh must distrust it while not live and start afresh on becoming live again.
   */
  subscribe(channel: string, listener: SubscriptionListener): Subscription;
  /** Resolves when the backend answers; rejects (AppError 503 for Redis) otherwise. */
  ping(): Promise<void>;
  /** Releases timers and connections; the store must not be used afterwards. */
  close(): Promise<void>;
}

/** What a subscriber is told: messages, and whether it can trust it hears them all. */
export interface SubscriptionListener {
  onMessage(message: string): void;
  onLiveChange(live: boolean): void;
}

/** One subscription's state; the store ends it when it closes. */
export interface Subscription {
  /** True while every message published on the channel reaches this subscriber. */
  readonly live: boolean;
}

/** Subscriptions per store: a handful of caches subscribe once each at start, so more is a runaway caller. */
export const MAX_SUBSCRIPTIONS = 64;
/** Messages name an id, never a payload. */
export const MAX_MESSAGE_LENGTH = 1024;

/** Rejects what the pub/sub contract does not allow, the same way in both adapters. */
export function checkMessage(channel: string, message: string): void {
  if (!channel) throw new RangeError('a channel needs a name');
  if (message.length > MAX_MESSAGE_LENGTH) throw new RangeError(`messages are at most ${MAX_MESSAGE_LENGTH} characters`);
}

/** Where adapters report trouble that must not crash the process (pino's Logger fits). */
export interface StoreLogger {
  warn(obj: object, msg: string): void;
}

/** A TTL in seconds (fractions allowed) as whole milliseconds; a missing or non-positive TTL is a bug. */
export function ttlSecondsToMs(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`ttlSeconds must be positive, got ${ttlSeconds}`);
  return Math.ceil(ttlSeconds * 1000);
}

/** Checks a lock TTL; locks are short-lived, so they are counted in milliseconds. */
export function checkTtlMs(ttlMs: number): number {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
  return ttlMs;
}

/** Checks a lease limit: slots are counted, so a limit is a positive integer (bounded: a set, not a log). */
export function checkLeaseLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LEASES) throw new RangeError(`limit must be an integer in 1..${MAX_LEASES}, got ${limit}`);
  return limit;
}

/** Slots per lease set: enough for any in-flight limit, small enough that one set stays cheap. */
export const MAX_LEASES = 10_000;

/**
 * Lease tokens: a random per-store prefix and a counter. Unique across processes without a CSPRNG
 * call per lease (a token proves ownership between our own processes; it is no secret).
 */
export function createTokenSource(randomPrefix: string): () => string {
  let next = 0;
  return () => `${randomPrefix}.${(next++).toString(36)}`;
}

/** Joins the store prefix and a key the same way in both adapters. */
export const prefixKey = (prefix: string, key: string): string => (prefix ? `${prefix}:${key}` : key);
