import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, errors } from '../platform/errors.js';

/**
 * Optimistic locking over HTTP (DESIGN §5): the version a client read comes either from
 * If-Match (stale: 412) or a `version` field in the body (stale: 409); neither: 428.
 */
export interface VersionPrecondition {
  version: number;
  via: 'if-match' | 'body';
}

export const etagOf = (version: number) => `"v${version}"`;

export function setEtag(reply: FastifyReply, version: number) {
  reply.header('etag', etagOf(version));
}

export function readPrecondition(request: FastifyRequest, bodyVersion: number | undefined): VersionPrecondition {
  const header = request.headers['if-match'];
  if (typeof header === 'string') {
    const match = /^\s*(?:W\/)?"v(\d{1,9})"\s*$/.exec(header);
    if (!match) throw new AppError(412, 'precondition_failed', { detail: 'If-Match does not name a version of this resource.' });
    return { version: Number(match[1]), via: 'if-match' };
  }
  if (bodyVersion !== undefined) return { version: bodyVersion, via: 'body' };
  throw errors.preconditionRequired();
}

/** The error for a precondition that no longer holds, by where it came from. */
export const staleError = (precondition: VersionPrecondition) =>
  precondition.via === 'if-match' ? errors.preconditionFailed() : errors.versionConflict();
