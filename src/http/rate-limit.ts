import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Policy } from '../config/policy.schema.js';
import { AppError, isAppError } from '../platform/errors.js';
import type { RateDecision, Store } from '../platform/stores/store.js';
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

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

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

  async function consume(request: FastifyRequest, reply: FastifyReply) {
    const tier = deps.policy().rateLimits.perIp;
    let decision: RateDecision;
    try {
      decision = await deps.store.consumeRate(`rl:ip:${request.ip}`, tier);
    } catch (error) {
      if (SAFE_METHODS.has(request.method)) {
        deps.logger.warn({ err: isAppError(error) ? error.code : String(error) }, 'rate-limit store unavailable; read allowed');
        return;
      }
      throw error;
    }
    setRateLimitHeaders(reply, decision);
    if (!decision.allowed) throw tooManyRequests(decision);
  }
}
