import type { ColumnType, Generated } from 'kysely';
import type { CommonColumns } from '../platform/db/common-columns.js';

/**
 * The database as Kysely sees it (camelCase; CamelCasePlugin maps to the snake_case columns the
 * migrations create). Encrypted columns are Buffers here: only a module's declared
 * encrypted-columns helper turns them into plaintext.
 */
export interface OrganisationsTable extends CommonColumns {
  name: string;
  slug: string;
}

export type UserStatus = 'active' | 'disabled' | 'locked';
export type PlatformRole = 'super-admin' | 'auditor';

export interface UsersTable extends CommonColumns {
  email: Buffer;
  emailIndex: Buffer;
  displayName: Buffer;
  passwordHash: string | null;
  mustChangePassword: Generated<boolean>;
  status: Generated<UserStatus>;
  platformRole: PlatformRole | null;
  lastLoginAt: Date | null;
  credentialsChangedAt: Date | null;
}

export type OrgRole = 'owner' | 'admin' | 'red-teamer' | 'reviewer' | 'auditor' | 'viewer';

export interface MembershipsTable extends CommonColumns {
  orgId: string;
  userId: string;
  role: OrgRole;
}

export interface IdempotencyRecordsTable {
  id: string;
  principal: string;
  method: string;
  route: string;
  key: string;
  bodyHash: Buffer;
  responseStatus: number;
  responseBody: Buffer | null;
  createdAt: ColumnType<Date, Date | undefined, never>;
  expiresAt: Date;
}

export interface PolicyVersionsTable {
  sequence: number;
  contentHash: string;
  content: ColumnType<unknown, string, never>;
  source: string;
  appliedAt: ColumnType<Date, Date | undefined, never>;
}

/** A login's refresh-token family: the session claims, the absolute lifetime and the revocation. */
export interface RefreshTokenFamiliesTable {
  id: string;
  userId: string;
  sessionId: string;
  orgId: string | null;
  amr: ColumnType<string[], string, never>;
  authTime: Date;
  createdAt: Date;
  expiresAt: Date;
  lastRotatedAt: Date | null;
  revokedAt: Date | null;
  revokedReason: string | null;
}

/** One opaque refresh token of a family, stored as its SHA-256 digest only. */
export interface RefreshTokensTable {
  id: string;
  familyId: string;
  tokenHash: Buffer;
  createdAt: Date;
  idleExpiresAt: Date;
  usedAt: Date | null;
  replacedBy: string | null;
}

/**
 * Login failure counters for account lockout, keyed by the blind index of the submitted email (not the
 * user id), so unknown emails get the same writes. No email column: nothing here is plaintext.
 */
export interface LoginAttemptsTable {
  emailIndex: Buffer;
  /** Consecutive failures in the current window (stays at the limit while locked). */
  failures: number;
  /** Start of the current counting window; null when no window is open (after a lock or a success). */
  windowStartedAt: Date | null;
  lockedUntil: Date | null;
  /** Locks in the recent history, for the growing lock period; forgotten after a quiet period. */
  lockCount: ColumnType<number, number | undefined, number>;
  lastFailureAt: Date;
  createdAt: ColumnType<Date, Date | undefined, never>;
  updatedAt: Date;
}

/**
 * An organisation's API key: found by its clear lookup prefix, checked against the keyed hash of the
 * whole key. The secret itself is never stored; the last-used IP is an encrypted envelope.
 */
export interface ApiKeysTable extends CommonColumns {
  orgId: string;
  /** The creator (owner): the key never does more than this user currently may. */
  userId: string;
  name: string;
  lookupPrefix: string;
  secretHash: Buffer;
  scopes: ColumnType<string[], string, string>;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  lastUsedIp: Buffer | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

export interface Database {
  organisations: OrganisationsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  idempotencyRecords: IdempotencyRecordsTable;
  policyVersions: PolicyVersionsTable;
  loginAttempts: LoginAttemptsTable;
  refreshTokenFamilies: RefreshTokenFamiliesTable;
  refreshTokens: RefreshTokensTable;
  apiKeys: ApiKeysTable;
}
