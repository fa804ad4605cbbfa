import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, errors, type FieldError } from '../platform/errors.js';
import { translateDatabaseError } from '../platform/db/database-errors.js';
import { sendProblem } from './problem.js';
import type { RouteTable } from './route-table.js';

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

const escapePointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/** Ajv errors → field errors with JSON pointers to the offending value. */
export function toFieldErrors(part: string, validation: AjvError[]): FieldError[] {
  return validation.map((error) => {
    let pointer = error.instancePath;
    let detail = error.message ?? 'is not valid';
    if (error.keyword === 'required' && typeof error.params.missingProperty === 'string') {
      pointer += `/${escapePointer(error.params.missingProperty)}`;
      detail = 'is required';
    } else if (error.keyword === 'additionalProperties' && typeof error.params.additionalProperty === 'string') {
      pointer += `/${escapePointer(error.params.additionalProperty)}`;
      detail = 'is not an allowed field';
    }
    return { in: part, pointer, detail };
  });
}

const FRAMEWORK_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'Send the body as application/json.'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', 'The request body is larger than allowed.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length', 'Content-Length does not match the body.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'malformed_json', 'The body is empty but declared as JSON.'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'malformed_json', 'The body is not valid JSON.'],
  FST_ERR_BAD_URL: [400, 'bad_url', 'The URL is malformed.'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'bad_request', 'The request cannot be routed.'],
};

/** Any thrown value → AppError; unknown errors become a bare 500 (logged, never shown). */
export function toAppError(error: unknown): AppError {
  const translated = translateDatabaseError(error);
  if (translated instanceof AppError) return translated;
  const fastifyError = error as Partial<FastifyError> & { validation?: AjvError[]; validationContext?: string };
  if (fastifyError.validation) {
    return errors.validation(toFieldErrors(fastifyError.validationContext ?? 'body', fastifyError.validation));
  }
  const known = fastifyError.code ? FRAMEWORK_ERRORS[fastifyError.code] : undefined;
  if (known) return new AppError(known[0], known[1], { detail: known[2] });
  const status = fastifyError.statusCode;
  if (status && status >= 400 && status < 500) {
    return new AppError(status, 'bad_request', { detail: 'The request cannot be processed.' });
  }
  return new AppError(500, 'internal_error', { detail: 'An unexpected error occurred.', cause: error });
}

export function registerErrorHandling(app: FastifyInstance, routes: RouteTable) {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) {
      request.log.error({ err: error, code: appError.code }, 'request failed');
    } else {
      request.log.info({ code: appError.code, status: appError.status }, 'request rejected');
    }
    return sendProblem(request, reply, appError);
  });

  // Fastify has no 405: answer it here when the path exists under other methods.
  app.setNotFoundHandler((request, reply) => {
    const allowed = routes.allowedMethods(request.url);
    if (allowed.length > 0) {
      return sendProblem(
        request,
        reply,
        new AppError(405, 'method_not_allowed', {
          detail: `${request.method} is not allowed here.`,
          headers: { allow: allowed.join(', ') },
        }),
      );
    }
    return sendProblem(request, reply, errors.notFound('path'));
  });
}
