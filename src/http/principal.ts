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
}

/** Returns a principal, undefined when its credential kind is absent, or throws 401 when it is invalid. */
export type Authenticator = (request: FastifyRequest) => Promise<Principal | undefined>;

/** What a route declares: public, or the permission its caller needs (a list: any one of them). */
export type RouteAccess = { public: true } | { permission: string | readonly string[] };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** Per-principal rate-limit tier; by default GET/HEAD are reads and everything else writes. */
    rateTier?: 'read' | 'write' | 'scanStart';
  }
}
