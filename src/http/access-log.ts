import type { FastifyReply, FastifyRequest } from 'fastify';
import { pino } from 'pino';
import type { Logger } from '../platform/logger.js';

/**
 * The access log: one JSON line per request, after the response, with the actor once known.
 * It is on every request's path, so the line is composed here and written straight to the
 * logger's destination instead of through pino's generic serialiser and redaction (which cost
 * more than a health check). Every value is either ours or passed through JSON.stringify, so a
 * hostile path cannot break the line; credentials are never among the fields.
 */
export function createAccessLogWriter(logger: Logger, service: string) {
  const stream = (logger as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym];
  const prefix = `,"service":${JSON.stringify(service)},"reqId":`;
  return (request: FastifyRequest, reply: FastifyReply) => {
    if (!stream || !logger.isLevelEnabled('info')) return;
    const route = request.routeOptions.url;
    const principal = request.principal;
    const queryAt = request.url.indexOf('?');
    const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt);
    stream.write(
      `{"level":"info","time":"${new Date().toISOString()}"${prefix}${JSON.stringify(request.id)}` +
        `,"method":${JSON.stringify(request.method)},"path":${JSON.stringify(path)}` +
        (route === undefined ? '' : `,"route":${JSON.stringify(route)}`) +
        `,"status":${reply.statusCode},"durationMs":${Math.round(reply.elapsedTime * 100) / 100}` +
        (principal ? `,"actor":{"type":${JSON.stringify(principal.type)},"id":${JSON.stringify(principal.id)}}` : '') +
        `,"msg":"request completed"}\n`,
    );
  };
}
