import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { unredacted, type Logger } from '../platform/logger.js';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Keeps a well-formed incoming X-Request-ID (for tracing across proxies); otherwise a random UUID
 * (node's pooled generator: request ids need uniqueness, not the time order of resource ids).
 */
export function requestIdFrom(request: { headers: Record<string, string | string[] | undefined> }): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
}

/** The actor as logged: never an email or name, only ids. */
const actorOf = (request: FastifyRequest) =>
  request.principal ? { type: request.principal.type, id: request.principal.id } : undefined;

export function registerRequestContext(app: FastifyInstance, logger: Logger) {
  // Access lines hold only fields built here from known-safe values, so they skip redaction.
  const accessLog = unredacted(logger);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  // One access-log line per request, after the response, with the actor once known.
  app.addHook('onResponse', (request, reply, done) => {
    accessLog.info(
      {
        reqId: request.id,
        method: request.method,
        path: request.url.split('?')[0],
        route: request.routeOptions.url,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        actor: actorOf(request),
      },
      'request completed',
    );
    done();
  });
}
