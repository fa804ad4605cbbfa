import type { OrgRole, PlatformRole, UserStatus } from '../../db/schema.js';
import type { Clock } from '../../platform/clock.js';
import { errors } from '../../platform/errors.js';
import type { Store } from '../../platform/stores/store.js';
import { createVersionedCache } from '../../platform/stores/versioned-cache.js';
import { permissionsFor, type Permission } from './permissions.js';

/** What a user holds right now: account status, platform role and memberships. */
export interface UserGrants {
  status: UserStatus;
  platformRole: PlatformRole | null;
  /** A forced password change is pending: only the change itself (and reading oneself) is allowed. */
  mustChangePassword: boolean;
  /** Epoch ms of the last credential change; tokens issued before it are refused. */
  credentialsChangedAtMs: number | null;
  /** `rawContent`: this membership holds the raw-content grant (per organisation, never per user). */
  memberships: Array<{ orgId: string; role: OrgRole; rawContent?: boolean }>;
  /** MFA facts (issue 8 §5): whether a factor is enrolled, and each organisation's policy for the user. */
  mfa?: UserMfaGrants;
}

/** What MFA rules need to know about a user (no secrets: ids, roles and times). */
export interface UserMfaGrants {
  enrolled: boolean;
  orgs: Array<{ role: OrgRole; memberSinceMs: number; requirement: 'everyone' | 'owners-and-admins' | 'optional' | null; policySinceMs: number }>;
}

/** Whether MFA is required of a user, until when they may still sign in without it, and whether that time is over. */
export interface MfaAccessState {
  enrolled: boolean;
  required: boolean;
  graceEndsAt: Date | null;
  /** Required, not enrolled, grace over: only enrollment is allowed. */
  enrollmentRequired: boolean;
}

/** The organisation a request acts in and what the caller may do there. */
export interface ResolvedAccess {
  orgId: string | null;
  orgRole: OrgRole | null;
  permissions: ReadonlySet<Permission>;
  mustChangePassword: boolean;
  credentialsChangedAtMs: number | null;
  mfa: MfaAccessState;
}

/**
 * Authorisation reads current memberships (DESIGN §5), not a roles claim in an old token. They
 * are cached in the shared store for a short time and invalidated on every change, so a role
 * change, removal or disabled account takes effect on the caller's next request in this process
 * and, in the others, as soon as the invalidation message reaches them (their in-process copies;
 * see platform/stores/local-layer.ts).
 */
export function createAccessService(deps: {
  loadGrants: (userId: string) => Promise<UserGrants | undefined>;
  store: Pick<Store, 'getMany' | 'set' | 'increment' | 'publish' | 'subscribe'>;
  cacheTtlSeconds: number;
  /** Times the in-process copies (a few seconds at most). */
  clock: Pick<Clock, 'nowMs'>;
  /** The MFA requirement rule (mfa module), applied to the cached facts at each request's time. */
  mfaRequirement?: (mfa: UserMfaGrants, nowMs: number) => Omit<MfaAccessState, 'enrolled'>;
}) {
  // Ids and roles only: nothing personal is cached here.
  const cache = createVersionedCache<UserGrants>({
    store: deps.store,
    namespace: 'access:v3:user',
    ttlSeconds: deps.cacheTtlSeconds,
    encode: (grants) => JSON.stringify(grants),
    decode: (raw) => JSON.parse(raw) as UserGrants,
    clock: deps.clock,
  });
  const mfaStateOf = (mfa: UserMfaGrants | undefined): MfaAccessState => {
    const enrolled = mfa?.enrolled ?? false;
    if (!mfa || !deps.mfaRequirement) return { enrolled, required: false, graceEndsAt: null, enrollmentRequired: false };
    return { enrolled, ...deps.mfaRequirement(mfa, deps.clock.nowMs()) };
  };
  const grantsOf = (userId: string) => cache.get(userId, () => deps.loadGrants(userId));

  return {
    /**
     * Resolves the caller's access for one request. `requestedOrgId` (X-Organization-Id) may pick
     * another of the caller's own organisations; one they do not belong to answers 404, as any
     * other organisation's resource does. Returns undefined for a missing or inactive account.
     */
    async resolve(userId: string, options: { tokenOrgId: string | null; requestedOrgId?: string | undefined }): Promise<ResolvedAccess | undefined> {
      const grants = await grantsOf(userId);
      if (!grants || grants.status !== 'active') return undefined;
      const wanted = options.requestedOrgId ?? options.tokenOrgId;
      const membership = wanted ? grants.memberships.find((candidate) => candidate.orgId === wanted) : grants.memberships[0];
      if (wanted && !membership && options.requestedOrgId) throw errors.notFound('organisation');
      const orgRole = membership?.role ?? null;
      return {
        orgId: membership?.orgId ?? null,
        orgRole,
        // The raw-content grant of the membership acted in only: another organisation's grant lends nothing.
        permissions: permissionsFor({ orgRole, platformRole: grants.platformRole, rawContent: membership?.rawContent === true }),
        mustChangePassword: grants.mustChangePassword,
        credentialsChangedAtMs: grants.credentialsChangedAtMs,
        mfa: mfaStateOf(grants.mfa),
      };
    },

    /** Call after any change to a user's status, platform role or memberships. */
    async invalidate(userId: string): Promise<void> {
      await cache.invalidate(userId);
    },
  };
}

export type AccessService = ReturnType<typeof createAccessService>;
