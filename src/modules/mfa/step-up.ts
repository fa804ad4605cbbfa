import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../platform/clock.js';
import { AppError } from '../../platform/errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A sensitive action (issue 8 §5: changing factors, creating API keys, changing roles, exporting
     * the audit trail, reading target secret metadata): a user with MFA must have done it within the
     * policy's `stepUpMaxAgeMinutes`, or the route answers 401 insufficient_user_authentication (RFC 9470).
     */
    stepUp?: boolean;
  }
}

/** The RFC 9470 challenge: the client signs in again with MFA (max_age in seconds) and retries. */
export function insufficientUserAuthentication(maxAgeSeconds: number): AppError {
  return new AppError(401, 'insufficient_user_authentication', {
    detail: 'This action needs a recent multi-factor sign-in: sign in again with your second factor and retry.',
    headers: {
      'www-authenticate': `Bearer error="insufficient_user_authentication", error_description="A recent multi-factor authentication is required", max_age=${maxAgeSeconds}`,
    },
  });
}

/**
 * Enforces `config.stepUp` after authentication (preValidation, registered after the authentication
 * slot). Only users with a factor are asked: one without any cannot answer (they are either within
 * their grace, or restricted to enrollment anyway), and API keys carry no interactive sign-in (their
 * creation is itself a step-up action).
 */
export function registerStepUp(app: FastifyInstance, deps: { clock: Pick<Clock, 'nowMs'>; maxAgeMinutes: () => number }) {
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.is404 || !request.routeOptions.config.stepUp) return done();
    const principal = request.principal;
    if (!principal || principal.type !== 'user' || !principal.mfaEnrolled) return done();
    const maxAgeSeconds = deps.maxAgeMinutes() * 60;
    const mfaAt = principal.amr?.includes('mfa') ? principal.authTime : undefined;
    if (!mfaAt || deps.clock.nowMs() - mfaAt.getTime() > maxAgeSeconds * 1000) {
      request.accessDenied = true;
      return done(insufficientUserAuthentication(maxAgeSeconds));
    }
    done();
  });
}
