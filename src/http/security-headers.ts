import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/** The strictest CSP: API responses are data, never documents (the /docs page sets its own). */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Security headers of every response, fixed at start-up and set in one call per request (a
 * per-request middleware chain cost more than the rest of a health check). The set is the one
 * OWASP's REST Security Cheat Sheet gives for APIs; headers that only matter to documents or to
 * retired browsers (X-XSS-Protection, X-Download-Options, COOP, Origin-Agent-Cluster...) are not
 * sent on data. Fastify sends no X-Powered-By. Routes that serve a document (/docs) replace the
 * CSP with their own.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': API_CSP,
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  // Responses carry tenant data: no shared cache may keep them.
  'cache-control': 'no-store',
});

export async function registerSecurityHeaders(app: FastifyInstance, options: { corsOrigins: readonly string[] }) {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    done();
  });
  // @fastify/cors answers preflights in onRequest; its catch-all OPTIONS route must still declare access.
  app.addHook('onRoute', (route) => {
    if (route.method === 'OPTIONS' && route.url === '*') route.config = { ...(route.config as object), access: { public: true } };
  });
  const allowed = new Set(options.corsOrigins);
  await app.register(cors, {
    // Exact-match allowlist; no origin reflection, no wildcard with credentials.
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'if-match', 'x-api-key', 'x-csrf-token', 'x-organization-id', 'x-request-id', 'api-version', 'last-event-id'],
    exposedHeaders: ['x-request-id', 'etag', 'location', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'idempotent-replayed', 'content-disposition', 'x-export-truncated', 'x-csrf-token'],
    maxAge: 600,
  });
}
