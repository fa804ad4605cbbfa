import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, errors } from '../platform/errors.js';
import type { Authenticator } from './principal.js';

/**
 * The authentication slot: each authenticator in order may claim the request; the first
 * principal wins. Then the route's declared access is enforced. Runs before validation so an
 * anonymous caller learns nothing about a route's schema.
 */
export function registerAuthentication(app: FastifyInstance, authenticators: readonly Authenticator[]) {
  app.decorateRequest('principal', null);
  app.decorateRequest('accessDenied', false);
  app.decorateRequest('auditRecorded', false);
  app.addHook('preValidation', (request, _reply, done) => {
    // Unmatched paths go to the not-found handler (404/405), which reveals nothing.
    if (request.is404) return done();
    const access = request.routeOptions.config.access;
    // Every route must say who may call it; a route without a declaration is closed, and a test fails.
    if (!access) return done(new AppError(500, 'route_without_access', { detail: 'This route is misconfigured.' }));
    // Public routes act on no one's behalf: no credential is read, so none can leak into their work.
    if ('public' in access) return done();
    authorise(request, access.permission).then(
      () => done(),
      (error: unknown) => {
        // A refusal, not an outage (a store failing is a 503 and denies nobody in particular).
        if (error instanceof AppError && (error.status === 401 || error.status === 403)) request.accessDenied = true;
        done(error as Error);
      },
    );
  });

  async function authorise(request: FastifyRequest, permission: string | readonly string[]) {
    for (const authenticate of authenticators) {
      const principal = await authenticate(request);
      if (principal) {
        request.principal = principal;
        break;
      }
    }
    if (!request.principal) throw errors.unauthorized();
    const anyOf = typeof permission === 'string' ? [permission] : permission;
    if (!anyOf.some((candidate) => request.principal!.permissions.has(candidate))) {
      if (request.principal.passwordChangeRequired) {
        throw new AppError(403, 'password_change_required', { detail: 'Change your password (POST /api/v1/users/me/password) before anything else.' });
      }
      if (request.principal.mfaEnrollmentRequired) {
        throw new AppError(403, 'mfa_enrollment_required', { detail: 'Your organisation requires MFA: enroll a factor (POST /api/v1/auth/mfa/totp) before anything else.' });
      }
      throw errors.forbidden();
    }
  }
}
