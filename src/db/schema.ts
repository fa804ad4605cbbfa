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

export interface Database {
  organisations: OrganisationsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  idempotencyRecords: IdempotencyRecordsTable;
  policyVersions: PolicyVersionsTable;
}
