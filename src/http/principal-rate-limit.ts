import type { FastifyInstance } from 'fastify';
import type { Policy } from '../config/policy.schema.js';
import type { Logger } from '../platform/logger.js';
import type { RateDecision, Store } from '../platform/stores/store.js';
import { setRateLimitHeaders, tooManyRequests } from './rate-limit.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Per-principal tiers (GCRA on the store): each user and each API key has its own budget of
 * reads, writes and scan starts per window, after authentication and before the handler. The
 * RateLimit-* headers describe whichever budget (this one or the per-address one) has less left.
 * Failure policy when the store is down: reads stay open (logged), writes fail closed with 503.
 */
export function registerPrincipalRateLimit(
  app: FastifyInstance,
  deps: { store: Pick<Store, 'consumeRate'>; policy: () => Policy; logger: Pick<Logger, 'warn'> },
) {
  app.addHook('preHandler', async (request, reply) => {
    const principal = request.principal;
    if (!principal || principal.type === 'metrics') return;
    const tierName = request.routeOptions.config.rateTier ?? (SAFE_METHODS.has(request.method) ? 'read' : 'write');
    const tier = deps.policy().rateLimits[tierName];
    let decision: RateDecision;
    try {
      decision = await deps.store.consumeRate(`rl:principal:${principal.type}:${principal.id}:${tierName}`, tier);
    } catch (error) {
      if (tierName === 'read') {
        deps.logger.warn({ err: (error as Error).message }, 'rate-limit store unavailable; read allowed');
        return;
      }
      throw error;
    }
    // The headers describe the budget that binds: this one unless the per-address one has less left.
    const addressRemaining = reply.getHeader('ratelimit-remaining');
    if (!decision.allowed || addressRemaining === undefined || decision.remaining < Number(addressRemaining)) setRateLimitHeaders(reply, decision);
    if (!decision.allowed) throw tooManyRequests(decision);
  });
}
