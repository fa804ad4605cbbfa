import type { FastifyRequest } from 'fastify';
import type { CsrfGuard } from '../../http/csrf.js';
import type { Authenticator } from '../../http/principal.js';
import { errors } from '../../platform/errors.js';
import { timestampOfId } from '../../platform/ids.js';
import type { AccessService } from '../auth/access.service.js';
import { userPermissions } from '../auth/permissions.js';
import type { SessionRevocations } from '../auth/session-revocations.js';
import { isPrivileged, type BrowserSessionService, type FoundSession } from './browser-sessions.service.js';
import { SESSION_COOKIE } from './session-cookie.js';

/**
 * The browser-session cookie (`__Host-vutf_session`). Tried after the bearer token and the API key,
 * so a request carrying both a cookie and a bearer token is the bearer's (and needs no CSRF token).
 * What the user may do comes from their current grants, exactly as for a bearer token.
 *
 * Order of checks: the session must exist and be within its deadlines; a state-changing request must
 * pass the CSRF guard BEFORE the session is touched (a forged request must not keep a session alive);
 * then the same account checks as the bearer path (ended logins, inactive account, credentials changed
 * since the session began); last, the idle timeout of the current role and the throttled touch.
 */
export function createCookieAuthenticator(deps: {
  browserSessions: Pick<BrowserSessionService, 'find' | 'keepAlive' | 'end'>;
  access: Pick<AccessService, 'resolve'>;
  sessions: Pick<SessionRevocations, 'isEnded'>;
  csrf: CsrfGuard;
}): Authenticator {
  const refuse = async (request: FastifyRequest, session: FoundSession | null, detail: string): Promise<never> => {
    if (session) await deps.browserSessions.end(session);
    request.clearSessionCookie = true;
    throw errors.unauthorized(detail);
  };

  return async (request) => {
    const token = request.cookies[SESSION_COOKIE];
    // No cookie: not ours to claim. A present one is looked up by its hash, never compared as a secret.
    if (typeof token !== 'string') return undefined;
    const found = await deps.browserSessions.find(token);
    if (!found.ok) return refuse(request, null, found.reason === 'idle' || found.reason === 'absolute' ? 'The session has expired; sign in again.' : 'The session is not valid; sign in again.');
    const { session } = found;
    const { record } = session;
    deps.csrf.check(request, record.csrfSecret);

    if (await deps.sessions.isEnded(record.userId, record.id)) return refuse(request, session, 'This login has ended; sign in again.');
    const requested = request.headers['x-organization-id'];
    const access = await deps.access.resolve(record.userId, { tokenOrgId: record.orgId, requestedOrgId: typeof requested === 'string' ? requested : undefined });
    if (!access) return refuse(request, session, 'The account cannot sign in now.');
    // The session id is a UUIDv7 minted at sign-in: it says whether the session began before the credentials changed.
    if (access.credentialsChangedAtMs !== null && !(timestampOfId(record.id) >= access.credentialsChangedAtMs)) {
      return refuse(request, session, 'The session ended when the credentials changed; sign in again.');
    }
    if (!(await deps.browserSessions.keepAlive(session, isPrivileged(access)))) return refuse(request, null, 'The session has expired; sign in again.');

    request.browserSession = { id: record.id, csrfToken: record.csrfSecret };
    return {
      type: 'user',
      id: record.userId,
      userId: record.userId,
      sessionId: record.id,
      ...(access.orgId ? { orgId: access.orgId } : {}),
      permissions: userPermissions(access.permissions, access.mustChangePassword, access.mfa.enrollmentRequired),
      passwordChangeRequired: access.mustChangePassword,
      amr: record.amr,
      authTime: new Date(record.authTimeMs),
      mfaEnrolled: access.mfa.enrolled,
      mfaEnrollmentRequired: access.mfa.enrollmentRequired,
    };
  };
}
