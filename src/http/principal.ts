import type { FastifyRequest } from 'fastify';

/**
 * Who is calling. Authenticators (bearer JWT, API key, session cookie, metrics token) turn a
 * request into a Principal; routes only ever look at this.
 */
export interface Principal {
  type: 'user' | 'api-key' | 'oauth-client' | 'metrics';
  /** Stable id of the credential owner (user id, key id, client id, "metrics"). */
  id: string;
  /** The human behind the credential, when there is one. */
  userId?: string;
  /** The organisation the request acts in. */
  orgId?: string;
  /** Permissions held in that organisation (and platform-wide). */
  permissions: ReadonlySet<string>;
  /** A forced password change is pending: other routes answer 403 password_change_required. */
  passwordChangeRequired?: boolean;
  /** The login session (access token `sid`), for logout. */
  sessionId?: string;
  /** How the user authenticated (RFC 8176 `amr`), and when (`auth_time`: the MFA's time after an MFA login). */
  amr?: readonly string[];
  authTime?: Date;
  /** The user has an MFA factor: step-up routes then demand a recent MFA (RFC 9470). */
  mfaEnrolled?: boolean;
  /** MFA is required and its grace is over: other routes answer 403 mfa_enrollment_required. */
  mfaEnrollmentRequired?: boolean;
}

/** Returns a principal, undefined when its credential kind is absent, or throws 401 when it is invalid. */
export type Authenticator = (request: FastifyRequest) => Promise<Principal | undefined>;

/** What a route declares: public, or the permission its caller needs (a list: any one of them). */
export type RouteAccess = { public: true } | { permission: string | readonly string[] };

/**
 * What a route declares about the audit trail (issue 4; ADR 0007). An `action` from the audit
 * catalogue is recorded for every call: a write in its own transaction (the write runner), a read
 * of a sensitive resource durably before the response, a denial or failure on its own. The resource
 * id comes from the parameter `resourceParam`, else the result's `id`, else the `id` parameter; the
 * organisation from the parameter `orgParam`, else the caller's active one. `recordedBy: 'service'`
 * means the service records its own events (sign-in flows: what happened is only known inside).
 */
/**
 * What a route records. `resourceParam` names the path parameter holding the resource id (default: the
 * result's `id`, then `:id`); `resource: 'caller'` says a self-service route acts on the signed-in user.
 */
export type RouteAudit = { action: string; resourceParam?: string; orgParam?: string; resource?: 'caller' } | { recordedBy: 'service' };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    /** Set when the authentication slot refused the request (401/403), for the audit trail. */
    accessDenied: boolean;
    /** Set once the write runner has recorded this request's audit event in its transaction. */
    auditRecorded: boolean;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** Per-principal rate-limit tier; by default GET/HEAD are reads and everything else writes. */
    rateTier?: 'read' | 'write' | 'scanStart';
    audit?: RouteAudit;
  }
}
