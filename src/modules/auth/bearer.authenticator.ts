import type { Authenticator } from '../../http/principal.js';
import { errors } from '../../platform/errors.js';
import { timestampOfId } from '../../platform/ids.js';
import type { AccessService } from './access.service.js';
import type { AccessTokenService } from './access-token.service.js';
import { userPermissions } from './permissions.js';
import type { SessionRevocations } from './session-revocations.js';

/**
 * `Authorization: Bearer <access JWT>`. The token says who and which session; what they may do
 * comes from their current grants (a role change, disabled account or password change applies
 * on the next request, not when the token expires).
 */
export function createBearerAuthenticator(deps: {
  accessTokens: Pick<AccessTokenService, 'verify'>;
  access: Pick<AccessService, 'resolve'>;
  sessions: Pick<SessionRevocations, 'isEnded'>;
}): Authenticator {
  return async (request) => {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return undefined;
    const token = await deps.accessTokens.verify(header.slice(7));
    if (await deps.sessions.isEnded(token.sub, token.sid)) throw errors.unauthorized('This login has ended; sign in again.');
    const requested = request.headers['x-organization-id'];
    const access = await deps.access.resolve(token.sub, {
      tokenOrgId: token.orgId,
      requestedOrgId: typeof requested === 'string' ? requested : undefined,
    });
    if (!access) throw errors.unauthorized('The account cannot sign in now.');
    // The session id is a UUIDv7 minted at sign-in, so it tells to the millisecond whether this
    // login began before the credentials changed (iat has whole seconds only).
    if (access.credentialsChangedAtMs !== null && !(timestampOfId(token.sid) >= access.credentialsChangedAtMs)) {
      throw errors.unauthorized('The session ended when the credentials changed; sign in again.');
    }
    const permissions = userPermissions(access.permissions, access.mustChangePassword, access.mfa.enrollmentRequired);
    return {
      type: 'user',
      id: token.sub,
      userId: token.sub,
      sessionId: token.sid,
      ...(access.orgId ? { orgId: access.orgId } : {}),
      permissions,
      passwordChangeRequired: access.mustChangePassword,
      amr: token.amr,
      authTime: token.authTime,
      mfaEnrolled: access.mfa.enrolled,
      mfaEnrollmentRequired: access.mfa.enrollmentRequired,
    };
  };
}
