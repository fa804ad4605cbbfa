/**
 * The one error type services throw. The HTTP error handler renders it as RFC 9457
 * problem+json; nothing else (stack, SQL, library text) ever reaches a client.
 */
export interface FieldError {
  /** Which part of the request: body, querystring, params, headers. */
  in: string;
  /** JSON pointer into that part ("" for the part itself). */
  pointer: string;
  detail: string;
}

export interface AppErrorOptions {
  /** Safe, human-readable explanation for the client. */
  detail?: string;
  /** Validation failures (422). */
  errors?: FieldError[];
  /** Extra response headers (Retry-After, Allow, ...). */
  headers?: Record<string, string>;
  /** Underlying cause, for logs only. */
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, options: AppErrorOptions = {}) {
    super(options.detail ?? code, { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.detail = options.detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }
}

export const isAppError = (value: unknown): value is AppError => value instanceof AppError;

/** Shorthands for the errors every module needs. */
export const errors = {
  badRequest: (code: string, detail: string) => new AppError(400, code, { detail }),
  unauthorized: (detail = 'Authentication is required.') => new AppError(401, 'unauthorized', { detail }),
  forbidden: (detail = 'You do not have permission to do this.') => new AppError(403, 'forbidden', { detail }),
  notFound: (resource = 'resource') => new AppError(404, 'not_found', { detail: `The ${resource} does not exist.` }),
  conflict: (code: string, detail: string) => new AppError(409, code, { detail }),
  preconditionFailed: () =>
    new AppError(412, 'precondition_failed', { detail: 'The resource was changed since you read it (If-Match is stale).' }),
  preconditionRequired: () =>
    new AppError(428, 'precondition_required', { detail: 'This update requires an If-Match header with the current ETag.' }),
  versionConflict: () =>
    new AppError(409, 'version_conflict', { detail: 'The resource was changed since you read it (version is stale).' }),
  validation: (fieldErrors: FieldError[]) =>
    new AppError(422, 'validation_failed', { detail: 'The request is not valid.', errors: fieldErrors }),
  unavailable: (detail: string, retryAfterSeconds: number, cause?: unknown) =>
    new AppError(503, 'service_unavailable', { detail, headers: { 'retry-after': String(retryAfterSeconds) }, cause }),
};
