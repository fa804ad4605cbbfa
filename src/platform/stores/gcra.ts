import type { RateDecision, RateRule } from './store.js';

/**
 * GCRA (generic cell rate algorithm): the state of a key is one number, its theoretical arrival time (TAT).
 * Each accepted request moves TAT one emission interval (window / limit) forward; a request passes while
 * TAT stays within one burst capacity (limit × interval, i.e. about one window) of now. With no prior
 * traffic exactly `limit` requests pass at once, then one per interval. Time is in integer microseconds so
 * the Redis Lua copy of this rule computes exactly the same numbers.
 */

/** The rule turned into the integers both adapters compute with. */
export interface GcraParameters {
  limit: number;
  /** Time one request "costs", rounded up so the limit is never exceeded. */
  intervalUs: number;
}

export function gcraParameters(rule: RateRule): GcraParameters {
  if (!Number.isInteger(rule.limit) || rule.limit < 1) throw new RangeError(`limit must be a positive integer, got ${rule.limit}`);
  if (!Number.isFinite(rule.windowSeconds) || rule.windowSeconds <= 0) {
    throw new RangeError(`windowSeconds must be positive, got ${rule.windowSeconds}`);
  }
  return { limit: rule.limit, intervalUs: Math.max(1, Math.ceil((rule.windowSeconds * 1_000_000) / rule.limit)) };
}

/** What the rule decided and, for an accepted request, the TAT to store and how long to keep it. */
export interface GcraStep {
  decision: RateDecision;
  /** The new TAT to store, or null when the request was refused (state unchanged). */
  nextTatUs: number | null;
  /** How long the stored TAT matters; after that the key is equivalent to "no prior traffic". */
  ttlMs: number;
  /** Exact microseconds until a refused request could pass (0 when allowed); the decision rounds to seconds. */
  retryUs: number;
}

/** The raw numbers a step produces; the Redis script returns exactly these. */
export interface GcraRaw {
  allowed: boolean;
  remaining: number;
  resetUs: number;
  retryUs: number;
}

export function gcraStep(storedTatUs: number | null, nowUs: number, parameters: GcraParameters): GcraStep {
  const { limit, intervalUs } = parameters;
  const capacityUs = intervalUs * limit;
  const tatUs = storedTatUs === null ? nowUs : Math.max(storedTatUs, nowUs);
  const nextTatUs = tatUs + intervalUs;
  const allowAtUs = nextTatUs - capacityUs;
  if (nowUs < allowAtUs) {
    const raw = { allowed: false, remaining: 0, resetUs: tatUs - nowUs, retryUs: allowAtUs - nowUs };
    return { decision: toRateDecision(limit, raw), nextTatUs: null, ttlMs: 0, retryUs: raw.retryUs };
  }
  const raw = {
    allowed: true,
    remaining: Math.floor((capacityUs - (nextTatUs - nowUs)) / intervalUs),
    resetUs: nextTatUs - nowUs,
    retryUs: 0,
  };
  return { decision: toRateDecision(limit, raw), nextTatUs, ttlMs: Math.ceil((nextTatUs - nowUs) / 1000), retryUs: 0 };
}

/** Whole seconds for headers: resets round up, and a refused request is told to wait at least 1 s. */
export function toRateDecision(limit: number, raw: GcraRaw): RateDecision {
  return {
    allowed: raw.allowed,
    limit,
    remaining: Math.max(0, raw.remaining),
    resetSeconds: Math.ceil(raw.resetUs / 1_000_000),
    retryAfterSeconds: raw.allowed ? 0 : Math.max(1, Math.ceil(raw.retryUs / 1_000_000)),
  };
}
