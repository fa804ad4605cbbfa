import type { Clock } from '../clock.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisStore } from './redis-store.js';
import type { Store, StoreLogger } from './store.js';

export type { RateDecision, RateRule, Store, StoreLogger } from './store.js';

/** What the composition root knows at start-up; the run mode picks the adapter here and nowhere else. */
export interface StoreConfig {
  mode: 'embedded' | 'server';
  /** Required in server mode. */
  redisUrl?: string;
  /** Key namespace (e.g. per deployment, or per test file). */
  prefix: string;
  /** Drives expiry in embedded mode; Redis keeps its own time (server TIME), shared by all processes. */
  clock: Clock;
  logger?: StoreLogger;
}

/** The one place that branches on the run mode for cache, counters, rate limits and locks. */
export async function createStore(config: StoreConfig): Promise<Store> {
  if (config.mode === 'server') {
    if (!config.redisUrl) throw new Error('server mode needs a Redis URL for its store');
    return createRedisStore({ url: config.redisUrl, prefix: config.prefix, logger: config.logger });
  }
  return createMemoryStore({ clock: config.clock, prefix: config.prefix });
}
