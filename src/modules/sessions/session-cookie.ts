import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CSRF_HEADER } from '../../http/csrf.js';

/**
 * The browser-session cookie (ASVS V3.3.1, V3.3.3, V3.3.4): `__Host-` so it is Secure, host-only
 * (no Domain) and Path=/; HttpOnly so scripts never read it; SameSite=Lax so a cross-site POST does
 * not carry it (the CSRF token and the Origin check are the layers that do not depend on that).
 */
export const SESSION_COOKIE = '__Host-vutf_session';

/** The cookie value: 256 random bits, base64url (43 characters). Anything else is refused unread. */
export const SESSION_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const ATTRIBUTES = { httpOnly: true, secure: true, sameSite: 'lax', path: '/' } as const;

/** Sets the cookie; it expires with the session's absolute lifetime (idle expiry is the server's). */
export function setSessionCookie(reply: FastifyReply, token: string, expiresAt: Date): void {
  reply.setCookie(SESSION_COOKIE, token, { ...ATTRIBUTES, expires: expiresAt });
}

/** Tells the browser to drop the cookie (same attributes, or it would not match). */
export function clearSessionCookie(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, ATTRIBUTES);
}

/** What the cookie authenticator learnt about the request's session, for the response. */
export interface BrowserSessionContext {
  /** The session's public id (never the cookie value). */
  id: string;
  csrfToken: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the session cookie authenticated this request. */
    browserSession: BrowserSessionContext | null;
    /** The request's session cookie is dead (expired, ended, invalid, or ended by this request): clear it. */
    clearSessionCookie: boolean;
  }
}

/**
 * Routes that end the caller's own login (auth.routes.ts); after one of them succeeds for a cookie
 * session the cookie is cleared here, because the session itself was ended by the service
 * (SessionRevocations.endSession / endAllSessions end browser sessions too; container-identity.ts).
 */
const LOGOUT_ROUTES: ReadonlySet<string> = new Set(['/api/v1/auth/logout', '/api/v1/auth/logout-all']);

/**
 * Response side of browser sessions, registered once on the root instance: cookie-authenticated
 * responses carry the session's CSRF token in `X-CSRF-Token` (a console picks it up from any
 * response), and a dead or logged-out session's cookie is cleared.
 */
export function registerSessionResponses(app: FastifyInstance): void {
  app.decorateRequest('browserSession', null);
  app.decorateRequest('clearSessionCookie', false);
  app.addHook('onSend', (request, reply, payload, done) => {
    const session = request.browserSession;
    const loggedOut = session !== null && reply.statusCode < 400 && LOGOUT_ROUTES.has(request.routeOptions.url ?? '');
    if (request.clearSessionCookie || loggedOut) clearSessionCookie(reply);
    else if (session) reply.header(CSRF_HEADER, session.csrfToken);
    done(null, payload);
  });
}
