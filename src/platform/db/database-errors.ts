import { AppError, errors } from '../errors.js';
import { DatabaseBusyError } from './session-mutex.js';

/** Seconds a client should wait before retrying when the database is unreachable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const NETWORK_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection ended unexpectedly',
  'Query read timeout',
];

/**
 * True when an error means "the database cannot be reached right now" rather than "this query is
 * wrong": those become 503 with Retry-After and count towards the circuit breaker.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseBusyError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    // SQLSTATE class 08 (connection exception), 57P01-03 (shutdown, cannot connect now), 53300 (too many connections)
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
  }
  return NETWORK_MESSAGES.some((message) => error.message.includes(message));
}

/** 57014: the statement timeout cancelled the query. */
export const isStatementTimeout = (error: unknown): boolean =>
  error instanceof Error && (error as { code?: unknown }).code === '57014';

/** Translates infrastructure failures into safe AppErrors; anything else passes through. */
export function translateDatabaseError(error: unknown): unknown {
  if (error instanceof AppError) return error;
  if (isDatabaseUnavailable(error)) {
    return errors.unavailable('The database is unavailable; try again shortly.', DATABASE_RETRY_AFTER_SECONDS, error);
  }
  if (isStatementTimeout(error)) {
    return new AppError(503, 'database_timeout', {
      detail: 'The database took too long to answer; try again shortly.',
      headers: { 'retry-after': '1' },
      cause: error,
    });
  }
  return error;
}

/** PostgreSQL unique_violation, for repositories that map a duplicate to a domain conflict. */
export const isUniqueViolation = (error: unknown, constraint?: string): boolean =>
  error instanceof Error &&
  (error as { code?: unknown }).code === '23505' &&
  (constraint === undefined || (error as { constraint?: unknown }).constraint === constraint);
