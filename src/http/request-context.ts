import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { SERVICE_NAME, type Logger } from '../platform/logger.js';
import { createAccessLogWriter } from './access-log.js';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Keeps a well-formed incoming X-Request-ID (for tracing across proxies); otherwise a random UUID
 * (node's pooled generator: request ids need uniqueness, not the time order of resource ids).
 */
export function requestIdFrom(request: { headers: Record<string, string | string[] | undefined> }): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
}

const PROBE_PATHS = new Set(['/health/live', '/health/ready']);

export function registerRequestContext(app: FastifyInstance, logger: Logger) {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  const writeAccessLine = createAccessLogWriter(logger, SERVICE_NAME);
  app.addHook('onResponse', (request, reply, done) => {
    // Liveness and readiness probes are polled by orchestrators every few seconds per instance;
    // their lines would drown the log without telling anything (failures still log as errors).
    if (!(reply.statusCode < 400 && PROBE_PATHS.has(request.url))) writeAccessLine(request, reply);
    done();
  });
}
