import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../platform/errors.js';

/**
 * Cross-site request forgery defence for requests authenticated by the browser-session cookie
 * (issue 8 §7; ASVS V3.5.1). Bearer-token and API-key requests are not subject to it: a browser
 * never attaches those by itself, so a forged request cannot carry them.
 *
 * Two layers: a synchronizer token bound to the session, sent back in `X-CSRF-Token` (a custom header
 * a cross-site form cannot set and a cross-origin fetch cannot send without a CORS preflight we
 * refuse), and the request's Origin (or, without one, its Referer) matched against PUBLIC_URL.
 */

/** The request header that carries the token; responses to cookie sessions carry it too. */
export const CSRF_HEADER = 'x-csrf-token';

/** Longest token accepted for comparison (ours are 43 characters); anything longer is refused unread. */
const MAX_TOKEN_LENGTH = 256;

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** POST, PUT, PATCH, DELETE (and anything unknown): the methods that must prove their origin. */
export const isStateChanging = (method: string): boolean => !SAFE_METHODS.has(method);

export const csrfFailed = (detail: string) => new AppError(403, 'csrf_failed', { detail });

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Constant-time comparison: both sides are hashed first, so neither the length nor a common prefix of
 * the presented value changes how long the comparison takes.
 */
export function tokensMatch(presented: unknown, expected: string): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > MAX_TOKEN_LENGTH) return false;
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The origin a browser says the request came from: Origin, else the Referer's origin; undefined when neither is sent. */
export function claimedOrigin(request: FastifyRequest): string | undefined {
  const origin = request.headers.origin;
  if (typeof origin === 'string') return origin;
  const referer = request.headers.referer;
  if (typeof referer !== 'string') return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    // An unparseable Referer proves nothing; it is treated as a foreign origin, not as an absent one.
    return 'null';
  }
}

/**
 * The guard the cookie authenticator applies to every state-changing request. Non-browser clients
 * that send neither Origin nor Referer still need the token: the origin check is the second layer,
 * never the only one. The serialized origin `null` (sandboxed frames, opaque origins) is foreign.
 */
export function createCsrfGuard(options: { publicUrl: string }) {
  const allowedOrigin = new URL(options.publicUrl).origin;
  return {
    /** Throws 403 csrf_failed unless the request carries the session's token and a same-origin Origin/Referer. */
    check(request: FastifyRequest, expectedToken: string): void {
      if (!isStateChanging(request.method)) return;
      const origin = claimedOrigin(request);
      if (origin !== undefined && origin !== allowedOrigin) throw csrfFailed('The request did not come from this application’s origin.');
      if (!tokensMatch(request.headers[CSRF_HEADER], expectedToken)) {
        throw csrfFailed('A request made with the session cookie needs the X-CSRF-Token header (GET /api/v1/auth/csrf).');
      }
    },
  };
}

export type CsrfGuard = ReturnType<typeof createCsrfGuard>;
