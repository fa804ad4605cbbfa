import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import type { Container } from './container.js';
import { lazyChildLogger, type Logger } from './platform/logger.js';
import { registerAuthentication } from './http/authentication.js';
import { registerErrorHandling } from './http/error-handler.js';
import { registerJsonBody } from './http/json-body.js';
import { ProblemSchema } from './http/problem.js';
import { authenticationThrottle, registerIpRateLimit } from './http/rate-limit.js';
import { registerPrincipalRateLimit } from './http/principal-rate-limit.js';
import { registerRequestContext, requestIdFrom } from './http/request-context.js';
import { registerRouteDefaults } from './http/route-defaults.js';
import { trackRoutes } from './http/route-table.js';
import { registerSecurityHeaders } from './http/security-headers.js';
import { registerValidation } from './http/validation.js';
import { registerApiDocs } from './http/api-docs.js';
import { healthRoutes } from './modules/health/health.routes.js';
import { jwksRoutes } from './modules/auth/jwks.routes.js';
import { authRoutes } from './modules/auth/auth.routes.js';
import { passwordResetRoutes } from './modules/auth/password-reset.routes.js';
import { unlockRoutes } from './modules/auth/unlock.routes.js';
import { registrationRoutes } from './modules/auth/registration.routes.js';
import { invitationsRoutes } from './modules/invitations/invitations.routes.js';
import { usersRoutes } from './modules/users/users.routes.js';
import { usersAdminRoutes } from './modules/users/users-admin.routes.js';
import { membersRoutes } from './modules/orgs/members.routes.js';
import { orgsRoutes } from './modules/orgs/orgs.routes.js';
import { policyRoutes } from './modules/policy/policy.routes.js';
import { apiKeysRoutes } from './modules/api-keys/api-keys.routes.js';
import { auditRoutes } from './modules/audit/audit.routes.js';
import { auditVerifyRoutes } from './modules/audit/audit-verify.routes.js';
import { alertsRoutes } from './modules/audit/alerts.routes.js';
import { convertersRoutes } from './modules/converters/converters.routes.js';
import { targetsRoutes } from './modules/targets/targets.routes.js';
import { registerSessionResponses } from './modules/sessions/session-cookie.js';
import { sessionsRoutes } from './modules/sessions/sessions.routes.js';
import { scorersRoutes } from './modules/scorers/scorers.routes.js';
import { probesRoutes } from './modules/probes/probes.routes.js';
import { scansRoutes } from './modules/scans/scans.routes.js';
import { findingsRoutes } from './modules/findings/findings.routes.js';
import { taxonomiesRoutes } from './modules/taxonomies/taxonomies.routes.js';
import { datasetsRoutes } from './modules/datasets/datasets.routes.js';
import { retentionRoutes } from './modules/retention/retention.routes.js';
import { keysRoutes } from './modules/keys/keys.routes.js';
import { backupRoutes } from './modules/backup/backup.routes.js';
import { attemptsRoutes } from './modules/scans/attempts.routes.js';
import { scanEventsRoutes } from './modules/scans/scan-events.routes.js';
import { mfaRoutes } from './modules/mfa/mfa.routes.js';
import { passkeysRoutes } from './modules/mfa/passkeys.routes.js';
import { registerStepUp } from './modules/mfa/step-up.js';

/** Request bodies above this are refused with 413 before they are parsed. */
export const BODY_LIMIT_BYTES = 1_048_576;
/** JSON nested deeper than this is refused with 400 (no legitimate body comes close). */
export const MAX_JSON_DEPTH = 32;

/**
 * Builds the HTTP application on a container. The pipeline order is deliberate and is the
 * order of registration below; `ready()` is left to the caller so tests can add routes.
 */
export async function buildApp(container: Container): Promise<FastifyInstance> {
  const { config, logger } = container;
  // Typed as Fastify's logger interface so the instance keeps Fastify's default generics.
  const loggerInstance: FastifyBaseLogger = logger;
  const app = Fastify({
    loggerInstance,
    childLoggerFactory: (parent, bindings, options) => lazyChildLogger(parent as Logger, bindings, options),
    // Fastify's own request lines are off: the access log in request-context.ts replaces them.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestIdFrom,
    trustProxy: config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: false },
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
  });

  // Route bookkeeping first: every later route passes through these onRoute hooks.
  const routes = trackRoutes(app);
  registerRouteDefaults(app);
  registerValidation(app);
  app.addSchema(ProblemSchema);
  // Audit declarations are checked as routes register; reads, denials and failures are recorded in onSend.
  container.audit.http.register(app);

  // 1. Request id: genReqId above keeps a valid incoming X-Request-ID; echoed on every response.
  // 3. Access log: one line per request in onResponse, with the actor once known.
  registerRequestContext(app, logger);
  // 2. Per-IP rate limit in onRequest, before the body is read.
  registerIpRateLimit(app, { store: container.store, policy: () => container.policy.current(), logger });
  // 4. Security headers (strict CSP, HSTS, nosniff, frame-ancestors none, referrer policy, no-store) and 5. CORS allowlist.
  await registerSecurityHeaders(app, { corsOrigins: config.corsOrigins });
  // 6. Body: JSON only, size and depth limits, prototype-pollution keys refused.
  registerJsonBody(app, { bodyLimitBytes: BODY_LIMIT_BYTES, maxDepth: MAX_JSON_DEPTH });
  // 6b. Cookies parsed in onRequest (no signing: the session cookie is an opaque random id checked server-side);
  // cookie-session responses carry X-CSRF-Token, and a dead session's cookie is cleared (onSend).
  await app.register(cookie);
  registerSessionResponses(app);
  // 7. Authentication slot and the route's declared access (preValidation).
  registerAuthentication(app, container.authenticators);
  // 7b. Step-up (RFC 9470) for routes declaring `config.stepUp`, right after the caller is known.
  registerStepUp(app, { clock: container.clock, maxAgeMinutes: () => container.policy.current().mfa.stepUpMaxAgeMinutes });
  // 8. Per-principal tiers (after authentication and validation, before the handler).
  registerPrincipalRateLimit(app, { store: container.store, policy: () => container.policy.current(), logger });
  // 10. Errors: one handler renders problem+json; 404/405 from the not-found handler.
  registerErrorHandling(app, routes);

  await registerApiDocs(app, { enabled: config.docsEnabled, publicUrl: config.publicUrl });

  // Open Server-Sent Event streams never end on their own: close() would wait for them forever.
  app.addHook('preClose', (done) => {
    container.scans.eventStreams.closeAll();
    done();
  });

  // 9. Handlers, grouped by trust boundary.
  const authThrottle = authenticationThrottle({ store: container.store, policy: () => container.policy.current() });
  await app.register(healthRoutes, { health: container.health, metrics: container.metrics, about: container.about });
  await app.register(jwksRoutes, { accessTokens: container.services.accessTokens });
  await app.register(
    async (api) => {
      await api.register(authRoutes, { auth: container.services.auth, throttle: authThrottle, browserLogin: container.services.browserLogin });
      await api.register(passwordResetRoutes, { passwordReset: container.services.passwordReset, throttle: authThrottle });
      await api.register(unlockRoutes, { unlock: container.services.unlock, runWrite: container.runWrite });
      await api.register(usersRoutes, {
        users: container.services.users,
        auth: container.services.auth,
        runWrite: container.runWrite,
        userChanged: (userId) => container.services.access.invalidate(userId),
      });
      await api.register(usersAdminRoutes, { usersAdmin: container.services.usersAdmin, runWrite: container.runWrite });
      await api.register(orgsRoutes, {
        orgs: container.services.orgs,
        runWrite: container.runWrite,
        membershipChanged: (userId) => container.services.access.invalidate(userId),
      });
      await api.register(policyRoutes, { policy: container.policy });
      await api.register(apiKeysRoutes, { apiKeys: container.services.apiKeys, runWrite: container.runWrite });
      await api.register(membersRoutes, {
        members: container.services.members,
        runWrite: container.runWrite,
        // A role change or removal is a privilege change: the member's browser sessions end (they sign in
        // again with a new session id; modules/sessions/browser-sessions.service.ts says why not rotate).
        membershipChanged: async (userId) => {
          await container.services.access.invalidate(userId);
          await container.services.browserSessions.endAllForUser(userId);
        },
      });
      await api.register(invitationsRoutes, {
        invitations: container.services.invitations,
        runWrite: container.runWrite,
        throttle: authThrottle,
        membershipChanged: (userId) => container.services.access.invalidate(userId),
      });
      await api.register(registrationRoutes, { registration: container.services.registration, throttle: authThrottle });
      await api.register(auditRoutes, { auditQuery: container.audit.query });
      await api.register(auditVerifyRoutes, { watch: container.audit.watch });
      await api.register(mfaRoutes, {
        mfa: container.services.mfa,
        runWrite: container.runWrite,
        userChanged: (userId) => container.services.access.invalidate(userId),
      });
      await api.register(passkeysRoutes, {
        passkeys: container.services.passkeys,
        passkeyLogin: container.services.passkeyLogin,
        runWrite: container.runWrite,
        throttle: authThrottle,
        browserLogin: container.services.browserLogin,
        userChanged: (userId) => container.services.access.invalidate(userId),
      });
      await api.register(alertsRoutes, { alerts: container.audit.alerts, runWrite: container.runWrite });
      await api.register(convertersRoutes, { converters: container.converters });
      await api.register(targetsRoutes, { targets: container.targets.service, sender: container.targets.sender, runWrite: container.runWrite });
      await api.register(sessionsRoutes, { browserSessions: container.services.browserSessions, sessionAdmin: container.services.sessionAdmin, runWrite: container.runWrite });
      await api.register(scorersRoutes, { scorers: container.scorers });
      await api.register(probesRoutes, { probes: container.scans.probes });
      await api.register(scansRoutes, { scans: container.scans.service, runWrite: container.runWrite });
      await api.register(findingsRoutes, { findings: container.findings.service, runWrite: container.runWrite });
      await api.register(taxonomiesRoutes, { taxonomies: container.taxonomies });
      await api.register(datasetsRoutes, { datasets: container.datasets.service, runWrite: container.runWrite });
      await api.register(retentionRoutes, { legalHolds: container.retention.legalHolds, retention: container.retention.retention, runWrite: container.runWrite });
      await api.register(keysRoutes, { keys: container.keyRotation.service });
      await api.register(backupRoutes, { backups: container.backup.service, clock: container.clock });
      await api.register(attemptsRoutes, { attempts: container.scans.attempts });
      await api.register(scanEventsRoutes, { streams: container.scans.eventStreams });
    },
    { prefix: '/api/v1' },
  );
  return app;
}
