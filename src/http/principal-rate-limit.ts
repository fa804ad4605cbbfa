import type { FastifyInstance } from 'fastify';
import type { Policy } from '../config/policy.schema.js';
import type { Logger } from '../platform/logger.js';
import type { Store } from '../platform/stores/store.js';
import { enforceRateTier, SAFE_METHODS } from './rate-limit.js';

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
    // Reads stay up through a store outage; writes and scan starts do not.
    await enforceRateTier(deps, reply, `rl:principal:${principal.type}:${principal.id}:${tierName}`, tier, {
      failOpen: tierName === 'read',
      headers: 'if-binding',
    });
  });
}
