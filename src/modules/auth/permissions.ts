import type { OrgRole, PlatformRole } from '../../db/schema.js';

/**
 * The one table mapping roles to permissions (issue 3). Routes declare a permission string; the
 * guard checks it against the set built here from the caller's current membership, never from
 * a roles claim in an old token.
 */
const ORG_PERMISSIONS = [
  'orgs:read',
  'orgs:update',
  'orgs:delete',
  'members:read',
  'members:invite',
  'members:manage',
  'api-keys:create',
  'api-keys:read',
  'api-keys:revoke',
  'targets:read',
  'targets:write',
  'targets:secrets:read-metadata',
  'datasets:read',
  'datasets:write',
  'scans:read',
  'scans:create',
  'scans:control',
  'attempts:read',
  'findings:read',
  'findings:triage',
  'reports:read',
  'reports:create',
  'audit:read',
  'audit:export',
] as const;

const PLATFORM_PERMISSIONS = [
  'orgs:create',
  'platform:orgs:manage',
  'platform:users:manage',
  'platform:policy:read',
  'platform:audit:read',
  /** Key versions and re-encryption (issue 9). */
  'platform:keys:manage',
  /** Encrypted backups of the whole database (issue 9). */
  'platform:backups:manage',
  /** Retention policy runs, dry runs and legal holds (issue 9). */
  'platform:retention:manage',
  'health:details',
  'metrics:read',
] as const;

/**
 * Seeing raw attack content (prompts, responses, evidence) is its own grant, held by no role:
 * it is given to a membership explicitly, so even an owner must be granted it on purpose.
 */
export const RAW_CONTENT_PERMISSION = 'raw-content:read';

/** What every signed-in user may do to themselves, whatever their roles (never grantable to an API key). */
export const SELF_PERMISSIONS = ['self:read', 'self:password', 'self:update', 'self:mfa'] as const;

/**
 * All a user with a pending forced password change may do: read themselves and change the password.
 * Editing the profile waits until then, so a generated or leaked initial password buys nothing else.
 */
export const PASSWORD_CHANGE_PERMISSIONS: readonly (typeof SELF_PERMISSIONS)[number][] = ['self:read', 'self:password'];

/**
 * All a user may do once their organisation's MFA grace is over and no factor is enrolled: read
 * themselves and enroll (issue 8 §5). Nothing else until a factor is confirmed.
 */
export const MFA_ENROLLMENT_PERMISSIONS: readonly (typeof SELF_PERMISSIONS)[number][] = ['self:read', 'self:mfa'];

export type OrgPermission = (typeof ORG_PERMISSIONS)[number];
export type PlatformPermission = (typeof PLATFORM_PERMISSIONS)[number];
export type Permission = OrgPermission | PlatformPermission | typeof RAW_CONTENT_PERMISSION | (typeof SELF_PERMISSIONS)[number];

const read: OrgPermission[] = ['orgs:read', 'members:read', 'targets:read', 'datasets:read', 'scans:read', 'findings:read', 'reports:read'];

const ROLE_PERMISSIONS: Record<OrgRole, readonly OrgPermission[]> = {
  owner: ORG_PERMISSIONS,
  // Everything but deleting the organisation (ownership decisions stay with owners).
  admin: ORG_PERMISSIONS.filter((permission) => permission !== 'orgs:delete'),
  'red-teamer': [...read, 'targets:write', 'datasets:write', 'scans:create', 'scans:control', 'attempts:read', 'reports:create', 'api-keys:create', 'api-keys:read', 'api-keys:revoke'],
  reviewer: [...read, 'attempts:read', 'findings:triage', 'reports:create'],
  auditor: [...read, 'audit:read', 'audit:export'],
  viewer: read,
};

const PLATFORM_ROLE_PERMISSIONS: Record<PlatformRole, readonly PlatformPermission[]> = {
  'super-admin': PLATFORM_PERMISSIONS,
  auditor: ['platform:audit:read', 'health:details', 'metrics:read'],
};

/** Roles in order of power; a role may only grant roles at or below its own (owners: any). */
export const ORG_ROLES: readonly OrgRole[] = ['owner', 'admin', 'red-teamer', 'reviewer', 'auditor', 'viewer'];

export interface Grants {
  orgRole: OrgRole | null;
  platformRole: PlatformRole | null;
  rawContent?: boolean;
}

// A handful of role combinations exist: each set is built once and shared (read-only) by every request.
const permissionSets = new Map<string, ReadonlySet<Permission>>();

export function permissionsFor(grants: Grants): ReadonlySet<Permission> {
  const key = `${grants.orgRole ?? ''}|${grants.platformRole ?? ''}|${grants.rawContent && grants.orgRole ? 'raw' : ''}`;
  const known = permissionSets.get(key);
  if (known) return known;
  const permissions = new Set<Permission>();
  if (grants.orgRole) for (const permission of ROLE_PERMISSIONS[grants.orgRole]) permissions.add(permission);
  if (grants.platformRole) for (const permission of PLATFORM_ROLE_PERMISSIONS[grants.platformRole]) permissions.add(permission);
  if (grants.rawContent && grants.orgRole) permissions.add(RAW_CONTENT_PERMISSION);
  permissionSets.set(key, permissions);
  return permissions;
}

const withSelf = new WeakMap<ReadonlySet<string>, ReadonlySet<string>>();
const PASSWORD_CHANGE_ONLY: ReadonlySet<string> = new Set<string>(PASSWORD_CHANGE_PERMISSIONS);
const MFA_ENROLLMENT_ONLY: ReadonlySet<string> = new Set<string>(MFA_ENROLLMENT_PERMISSIONS);

/**
 * What a signed-in user may do in a request: their grants plus what everyone may do to themselves,
 * or only the password change while one is pending. Shared read-only sets, one per grant set.
 */
export function userPermissions(granted: ReadonlySet<string>, mustChangePassword: boolean, mfaEnrollmentRequired = false): ReadonlySet<string> {
  if (mustChangePassword) return PASSWORD_CHANGE_ONLY;
  if (mfaEnrollmentRequired) return MFA_ENROLLMENT_ONLY;
  let merged = withSelf.get(granted);
  if (!merged) {
    merged = new Set<string>([...granted, ...SELF_PERMISSIONS]);
    withSelf.set(granted, merged);
  }
  return merged;
}

/**
 * Whether an actor with `actorRole` may give (or take away) `targetRole`: owners any role,
 * admins any role but owner, nobody else. Escalation past one's own role is impossible.
 */
export function canGrantRole(actorRole: OrgRole | null, targetRole: OrgRole): boolean {
  if (actorRole === 'owner') return true;
  if (actorRole === 'admin') return targetRole !== 'owner';
  return false;
}

/** Every permission string a route may declare (the route-table test checks declarations against it). */
export const ALL_PERMISSIONS: ReadonlySet<string> = new Set<string>([...ORG_PERMISSIONS, ...PLATFORM_PERMISSIONS, RAW_CONTENT_PERMISSION, ...SELF_PERMISSIONS]);
