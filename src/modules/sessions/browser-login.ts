import type { FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_HEADER } from '../../http/csrf.js';
import type { Db } from '../../platform/db/database.js';
import type { AccessTokenService } from '../auth/access-token.service.js';
import type { RefreshTokenService } from '../auth/refresh-token.service.js';
import type { SessionRevocations } from '../auth/session-revocations.js';
import { auditContextOf } from '../audit/audit.http.js';
import type { BrowserSessionService } from './browser-sessions.service.js';
import { SESSION_COOKIE, setSessionCookie } from './session-cookie.js';

/** The body of a `mode: "cookie"` sign-in (CookieLoginSchema): the session itself is only in the cookie. */
export interface CookieLogin {
  mode: 'cookie';
  expiresAt: string;
  idleTimeoutSeconds: number;
  csrfToken: string;
}

/** The token pair a completed sign-in produced (auth.service.ts), before it would leave the server. */
export interface CompletedTokens {
  accessToken: string;
  refreshToken: string;
}

/**
 * `mode: "cookie"` delivery of a completed sign-in (password login, or MFA verification). The sign-in
 * flow stays the one in auth.service.ts, with its timing equalisation, lockout and events; its result
 * is exchanged here, server-side, for a browser session: the login's refresh family is revoked
 * (reason `browser-session`) and its access token ended before either leaves the process, and the
 * session carries the same user, organisation, `amr` and `auth_time`. The cookie the browser already
 * held, if any, dies (a fixated or stale id never survives a sign-in, ASVS V7.2.4).
 */
export function createBrowserLogin(deps: {
  db: Db;
  accessTokens: Pick<AccessTokenService, 'verify'>;
  refreshTokens: Pick<RefreshTokenService, 'revokeSession'>;
  sessions: Pick<SessionRevocations, 'endSession'>;
  browserSessions: Pick<BrowserSessionService, 'start'>;
}) {
  return {
    async startBrowserSession(request: FastifyRequest, reply: FastifyReply, tokens: CompletedTokens): Promise<CookieLogin> {
      const claims = await deps.accessTokens.verify(tokens.accessToken);
      await deps.db.transaction().execute((tx) => deps.refreshTokens.revokeSession(tx, claims.sub, claims.sid, 'browser-session'));
      await deps.sessions.endSession(claims.sid);
      const started = await deps.browserSessions.start(
        { userId: claims.sub, orgId: claims.orgId, amr: claims.amr, authTime: claims.authTime },
        auditContextOf(request),
        request.cookies[SESSION_COOKIE],
      );
      setSessionCookie(reply, started.token, started.expiresAt);
      reply.header(CSRF_HEADER, started.csrfToken);
      return { mode: 'cookie', expiresAt: started.expiresAt.toISOString(), idleTimeoutSeconds: started.idleTimeoutSeconds, csrfToken: started.csrfToken };
    },
  };
}

export type BrowserLogin = ReturnType<typeof createBrowserLogin>;
