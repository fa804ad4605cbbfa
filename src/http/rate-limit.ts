import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Policy } from '../config/policy.schema.js';
import { AppError, isAppError } from '../platform/errors.js';
import type { RateDecision, RateRule, Store } from '../platform/stores/store.js';
import type { Logger } from '../platform/logger.js';

/** Sets the RateLimit-* headers (and Retry-After when refused) from a GCRA decision. */
export function setRateLimitHeaders(reply: FastifyReply, decision: RateDecision) {
  reply.header('ratelimit-limit', decision.limit);
  reply.header('ratelimit-remaining', Math.max(0, decision.remaining));
  reply.header('ratelimit-reset', Math.max(0, Math.ceil(decision.resetSeconds)));
}

export const tooManyRequests = (decision: RateDecision) =>
  new AppError(429, 'rate_limited', {
    detail: 'Too many requests; slow down.',
    headers: { 'retry-after': String(Math.max(1, Math.ceil(decision.retryAfterSeconds))) },
  });

export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Spends one request of a tier's budget: the one mechanism behind every tier (per address,
 * authentication, per principal). `failOpen` says what a store outage means for this request:
 * allowed (logged) or refused with the store's 503. `headers: 'if-binding'` leaves headers an
 * earlier tier set when that tier has less left.
 */
export async function enforceRateTier(
  deps: { store: Pick<Store, 'consumeRate'>; logger: Pick<Logger, 'warn'> },
  reply: FastifyReply,
  key: string,
  tier: RateRule,
  options: { failOpen: boolean; headers?: 'always' | 'if-binding' },
): Promise<void> {
  let decision: RateDecision;
  try {
    decision = await deps.store.consumeRate(key, tier);
  } catch (error) {
    if (!options.failOpen) throw error;
    deps.logger.warn({ err: isAppError(error) ? error.code : String(error) }, 'rate-limit store unavailable; request allowed');
    return;
  }
  const earlierRemaining = reply.getHeader('ratelimit-remaining');
  const binding = options.headers !== 'if-binding' || earlierRemaining === undefined || decision.remaining < Number(earlierRemaining);
  if (!decision.allowed || binding) setRateLimitHeaders(reply, decision);
  if (!decision.allowed) throw tooManyRequests(decision);
}

/**
 * The authentication tier per client address (TRUST_PROXY decides what that is), as a preHandler for
 * every public route that takes a credential or a mailed token. One budget shared by all of them (same
 * key as login), and it fails closed: with the store unreachable nothing is checked at all (503).
 */
export const authenticationThrottle =
  (deps: { store: Pick<Store, 'consumeRate'>; policy: () => Policy }) =>
  (request: FastifyRequest, reply: FastifyReply): Promise<void> =>
    enforceRateTier({ store: deps.store, logger: request.log }, reply, `rl:auth:ip:${request.ip}`, deps.policy().rateLimits.authentication, { failOpen: false });

/**
 * Per-client-address tier (GCRA on the store), in onRequest so a flood is refused before its
 * body is read. Failure policy when the store is down: safe methods stay open (logged), anything
 * that changes state fails closed with 503. Liveness and readiness probes are exempt: a load
 * balancer must always be able to ask.
 */
export function registerIpRateLimit(
  app: FastifyInstance,
  deps: { store: Pick<Store, 'consumeRate'>; policy: () => Policy; logger: Pick<Logger, 'warn'> },
) {
  app.addHook('onRequest', (request, reply, done) => {
    if (request.url === '/health/live' || request.url === '/health/ready') {
      done();
      return;
    }
    consume(request, reply).then(() => done(), done);
  });

  const consume = (request: FastifyRequest, reply: FastifyReply) =>
    enforceRateTier(deps, reply, `rl:ip:${request.ip}`, deps.policy().rateLimits.perIp, { failOpen: SAFE_METHODS.has(request.method) });
}
