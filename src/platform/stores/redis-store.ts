import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createCircuitBreaker } from '../resilience/circuit-breaker.js';
import { gcraParameters, toRateDecision } from './gcra.js';
import { createRedisSubscriber } from './redis-pubsub.js';
import {
  acquireLeaseLua,
  admitLua,
  extendLockLua,
  gcraLua,
  incrementLua,
  raiseFloorLua,
  releaseLeaseLua,
  releaseLockLua,
  renewLeaseLua,
  setManyLua,
} from './redis-scripts.js';
import { checkLeaseLimit, checkMessage, checkTtlMs, createTokenSource, ttlSecondsToMs, type Admission, type Store, type StoreLogger } from './store.js';

/** Options of the server-mode store; the defaults fail fast so an outage answers 503 instead of hanging. */
export interface RedisStoreOptions {
  /** redis:// or rediss:// URL; never logged (it may carry a password). */
  url: string;
  /** Namespace for every key, so processes of other deployments and test files never collide. */
  prefix: string;
  /** A command without a reply after this long fails. Default 500. */
  commandTimeoutMs?: number;
  /** A connection attempt that takes longer is abandoned (and retried). Default 2000. */
  connectTimeoutMs?: number;
  /** Cap of the exponential reconnect backoff. Default 2000. */
  reconnectMaxDelayMs?: number;
  /** How long the breaker fails fast before trying Redis again. Default 3000. */
  breakerResetTimeoutMs?: number;
  /** How often the subscriber connection (opened on the first subscribe) proves it is alive. Default 1000. */
  subscriberHeartbeatMs?: number;
  logger?: StoreLogger;
}

type GcraReply = [allowed: number, remaining: number, resetUs: number, retryUs: number];

// The Lua commands defined below with defineCommand; ioredis adds them at run time, untyped.
interface ScriptCommands {
  storeIncrement(key: string, ttlMs: number): Promise<number>;
  storeGcra(key: string, limit: number, intervalUs: number): Promise<GcraReply>;
  /** Key count first (the script takes any number), then the keys, then limit and interval per key. */
  storeExtendLock(key: string, token: string, ttlMs: number): Promise<number>;
  storeReleaseLock(key: string, token: string): Promise<number>;
  storeAcquireLease(key: string, limit: number, ttlMs: number, token: string): Promise<number>;
  storeRenewLease(key: string, token: string, ttlMs: number): Promise<number>;
  storeReleaseLease(key: string, token: string): Promise<number>;
  storeRaiseFloor(key: string, delayMs: number): Promise<number>;
  storeAdmit(floorKey: string, leaseKey: string, rateKey: string, limit: number, ttlMs: number, token: string, rateLimit: number, intervalUs: number): Promise<[code: number, wait: number]>;
  /** Key count first (the script takes any number), then the keys, then value and ttlMs. */
  storeSetMany(keyCount: number, ...keysThenArgs: Array<string | number>): Promise<number>;
}

const ADMIT_REFUSALS = ['floor', 'slots', 'rate'] as const;

// Redis answered, so it is up: a reply error is our bug and must not open the breaker, unless the
// server says it cannot serve right now.
const UNHEALTHY_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|OOM|NOREPLICAS)\b/;
const isOutage = (error: unknown): boolean =>
  !(error instanceof Error && error.name === 'ReplyError' && !UNHEALTHY_REPLY.test(error.message));

// Repeated reconnect failures raise the same error every backoff step; one line per 30 s is enough.
const REPEAT_LOG_AFTER_MS = 30_000;

/**
 * Server mode. ioredis is set to fail fast (DESIGN §9): no offline queue, a command timeout, one retry per
 * request, no replay of unanswered commands after a reconnect (the caller already got a 503, and replaying
 * an INCR would count twice), and endless capped reconnects so the store heals by itself. Every command
 * goes through a circuit breaker. Resolves once connected, or after connectTimeoutMs if Redis is down
 * (the store then reports 503s and reconnects in the background).
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<Store> {
  if (!options.prefix) throw new RangeError('a Redis store needs a key prefix');
  const commandTimeoutMs = options.commandTimeoutMs ?? 500;
  const connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
  const reconnectMaxDelayMs = options.reconnectMaxDelayMs ?? 2_000;
  const { logger } = options;

  const redis = new Redis(options.url, {
    keyPrefix: `${options.prefix}:`,
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: connectTimeoutMs,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    // Commands issued in the same tick (a request's session, grants and profile lookups) share one
    // write and one round trip: fewer syscalls on the hottest path, same semantics per command.
    enableAutoPipelining: true,
    // Jitter spreads the reconnects of many processes after a shared outage.
    retryStrategy: (attempt) => Math.min(reconnectMaxDelayMs, 50 * 2 ** Math.min(attempt, 10)) + Math.floor(Math.random() * 100),
  });

  let lastLogged = { message: '', atMs: 0 };
  const logConnectionError = (error: Error & { code?: string }) => {
    const now = Date.now();
    if (error.message === lastLogged.message && now - lastLogged.atMs < REPEAT_LOG_AFTER_MS) return;
    lastLogged = { message: error.message, atMs: now };
    logger?.warn({ err: { message: error.message, code: error.code } }, 'redis store connection error');
  };
  redis.on('error', logConnectionError);
  redis.on('ready', () => {
    lastLogged = { message: '', atMs: 0 };
  });
  const subscriber = createRedisSubscriber(redis, {
    prefix: options.prefix,
    heartbeatMs: options.subscriberHeartbeatMs ?? 1_000,
    onError: logConnectionError,
  });

  redis.defineCommand('storeIncrement', { lua: incrementLua, numberOfKeys: 1 });
  redis.defineCommand('storeGcra', { lua: gcraLua, numberOfKeys: 1 });
  redis.defineCommand('storeExtendLock', { lua: extendLockLua, numberOfKeys: 1 });
  redis.defineCommand('storeReleaseLock', { lua: releaseLockLua, numberOfKeys: 1 });
  redis.defineCommand('storeAcquireLease', { lua: acquireLeaseLua, numberOfKeys: 1 });
  redis.defineCommand('storeRenewLease', { lua: renewLeaseLua, numberOfKeys: 1 });
  redis.defineCommand('storeReleaseLease', { lua: releaseLeaseLua, numberOfKeys: 1 });
  redis.defineCommand('storeRaiseFloor', { lua: raiseFloorLua, numberOfKeys: 1 });
  redis.defineCommand('storeAdmit', { lua: admitLua, numberOfKeys: 3 });
  redis.defineCommand('storeSetMany', { lua: setManyLua });
  const leaseToken = createTokenSource(randomBytes(12).toString('base64url'));
  const scripts = redis as unknown as ScriptCommands;

  const breaker = createCircuitBreaker({
    // The name reaches clients in the 503 detail, so it does not say which product we run.
    name: 'shared store',
    // Slightly above the command timeout, so ioredis' own timeout normally wins and this is the backstop.
    timeoutMs: commandTimeoutMs + 250,
    resetTimeoutMs: options.breakerResetTimeoutMs ?? 3_000,
    volumeThreshold: 5,
    isFailure: isOutage,
    onStateChange: (state) => {
      if (state === 'open') logger?.warn({ breaker: 'redis-store' }, 'redis store circuit opened; failing fast');
    },
  });
  const exec = <T>(command: () => Promise<T>): Promise<T> => breaker.run(command);

  await firstConnection(redis, connectTimeoutMs);

  return {
    async get(key) {
      return await exec(() => redis.get(key));
    },

    async getMany(keys) {
      if (keys.length === 0) return [];
      return await exec(() => redis.mget(...keys));
    },

    async set(key, value, ttlSeconds) {
      const ttlMs = ttlSecondsToMs(ttlSeconds);
      await exec(() => redis.set(key, value, 'PX', ttlMs));
    },

    async setMany(keys, value, ttlSeconds) {
      const ttlMs = ttlSecondsToMs(ttlSeconds);
      if (keys.length === 0) return;
      await exec(() => scripts.storeSetMany(keys.length, ...keys, value, ttlMs));
    },

    async delete(key) {
      await exec(() => redis.del(key));
    },

    async deleteMany(keys) {
      if (keys.length === 0) return;
      // UNLINK frees the values off Redis's main thread; for a caller it is a DEL.
      await exec(() => redis.unlink(...keys));
    },

    async increment(key, ttlSeconds) {
      const ttlMs = ttlSecondsToMs(ttlSeconds);
      return await exec(() => scripts.storeIncrement(key, ttlMs));
    },

    async consumeRate(key, rule) {
      const { limit, intervalUs } = gcraParameters(rule);
      const [allowed, remaining, resetUs, retryUs] = await exec(() => scripts.storeGcra(key, limit, intervalUs));
      return toRateDecision(limit, { allowed: allowed === 1, remaining, resetUs, retryUs });
    },

    async acquireLock(key, ttlMs) {
      checkTtlMs(ttlMs);
      const token = randomBytes(16).toString('base64url');
      const reply = await exec(() => redis.set(key, token, 'PX', ttlMs, 'NX'));
      return reply === 'OK' ? token : null;
    },

    async extendLock(key, token, ttlMs) {
      checkTtlMs(ttlMs);
      return (await exec(() => scripts.storeExtendLock(key, token, ttlMs))) === 1;
    },

    async releaseLock(key, token) {
      return (await exec(() => scripts.storeReleaseLock(key, token))) === 1;
    },

    async acquireLease(key, limit, ttlMs) {
      checkLeaseLimit(limit);
      checkTtlMs(ttlMs);
      const token = leaseToken();
      return (await exec(() => scripts.storeAcquireLease(key, limit, ttlMs, token))) === 1 ? token : null;
    },

    async admit(keys, limit, ttlMs, rule): Promise<Admission> {
      checkLeaseLimit(limit);
      checkTtlMs(ttlMs);
      const rate = gcraParameters(rule);
      const token = leaseToken();
      const [code, wait] = await exec(() => scripts.storeAdmit(keys.floor, keys.lease, keys.rate, limit, ttlMs, token, rate.limit, rate.intervalUs));
      if (code === 0) return { admitted: true, token };
      const reason = ADMIT_REFUSALS[code - 1]!;
      if (reason === 'slots') return { admitted: false, reason };
      return { admitted: false, reason, waitMs: reason === 'rate' ? Math.ceil(wait / 1000) : wait };
    },

    async renewLease(key, token, ttlMs) {
      checkTtlMs(ttlMs);
      return (await exec(() => scripts.storeRenewLease(key, token, ttlMs))) === 1;
    },

    async releaseLease(key, token) {
      return (await exec(() => scripts.storeReleaseLease(key, token))) === 1;
    },

    async raiseFloor(key, delayMs) {
      checkTtlMs(delayMs);
      return await exec(() => scripts.storeRaiseFloor(key, delayMs));
    },

    async floorRemainingMs(key) {
      // PTTL is -2 for a missing key (and -1 for one without expiry, which a floor never is).
      return Math.max(0, await exec(() => redis.pttl(key)));
    },

    async publish(channel, message) {
      checkMessage(channel, message);
      await exec(() => redis.publish(subscriber.fullName(channel), message));
    },

    subscribe: (channel, listener) => subscriber.subscribe(channel, listener),

    async ping() {
      await exec(() => redis.ping());
    },

    async close() {
      subscriber.close();
      breaker.shutdown();
      if (redis.status === 'ready') {
        try {
          await redis.quit();
          return;
        } catch {
          // Lost the connection while quitting: disconnecting below is all that is left to do.
        }
      }
      redis.disconnect();
    },
  };
}

// Commands sent before the first connection would be refused (no offline queue), so creation waits for
// it, but never longer than one connect timeout: a Redis that is down at start-up is the readiness
// check's business, not a reason to hang.
function firstConnection(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.on('ready', done);
    redis.on('end', done);
  });
}
