import type { ColumnType, Generated } from 'kysely';
import type { CommonColumns } from '../platform/db/common-columns.js';
import type {
  AuditAlertDeliveriesTable,
  AuditAlertsTable,
  AuditAnalysisCursorsTable,
  AuditAnalysisIpFailuresTable,
  AuditCheckpointsTable,
  AuditEventsTable,
  AuditSigningKeysTable,
} from './audit-tables.js';
import type { ProbeLibraryTable, ProbeLibraryVersionsTable } from './probe-tables.js';
import type { AuditPurgesTable, LegalHoldsTable, RetentionRunsTable } from './retention-tables.js';
import type { DatasetItemsTable, DatasetsTable } from './dataset-tables.js';
import type { FindingCommentsTable, FindingScansTable, FindingScanSyncTable, FindingsTable } from './finding-tables.js';
import type { AttemptsTable, ScanChunksTable, ScanEventsTable, ScansTable, TargetsTable, TargetVersionsTable } from './red-team-tables.js';

export * from './audit-tables.js';
export * from './red-team-tables.js';
export * from './finding-tables.js';
export * from './dataset-tables.js';
export * from './probe-tables.js';
export * from './retention-tables.js';

/**
 * The database as Kysely sees it (camelCase; CamelCasePlugin maps to the snake_case columns the
 * migrations create). Encrypted columns are Buffers here: only a module's declared
 * encrypted-columns helper turns them into plaintext.
 */
export interface OrganisationsTable extends CommonColumns {
  name: string;
  slug: string;
  /** MFA policy (issue 8 §5); null: the policy file's default. */
  mfaRequirement: ColumnType<MfaRequirement | null, MfaRequirement | null | undefined, MfaRequirement | null>;
  /** When the MFA policy last changed (the enrollment grace counts from it); null: since creation. */
  mfaPolicySince: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export type MfaRequirement = 'everyone' | 'owners-and-admins' | 'optional';

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
  /** When an administrator last re-enabled the account: activity for the inactive-accounts job. */
  reactivatedAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** When retention replaced the email and name of this soft-deleted user by placeholders (once). */
  anonymisedAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export type OrgRole = 'owner' | 'admin' | 'red-teamer' | 'reviewer' | 'auditor' | 'viewer';

export interface MembershipsTable extends CommonColumns {
  orgId: string;
  userId: string;
  role: OrgRole;
  /** When the raw-content grant was given to this membership (held by no role); null: not held. */
  rawContentGrantedAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Who gave it (an owner, never the member); null with rawContentGrantedAt. */
  rawContentGrantedBy: ColumnType<string | null, string | null | undefined, string | null>;
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

export type EmailTokenPurpose = 'invitation' | 'password-reset' | 'registration';

/** A single-use token sent by mail: only its SHA-256 digest is stored; recipient and payload are envelopes. */
export interface EmailTokensTable {
  id: string;
  purpose: EmailTokenPurpose;
  tokenHash: Buffer;
  email: Buffer;
  emailIndex: Buffer;
  userId: string | null;
  orgId: string | null;
  role: OrgRole | null;
  payload: Buffer | null;
  createdBy: string | null;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  usedBy: string | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

export type MailStatus = 'pending' | 'sent' | 'failed';

/** An outgoing message, written in the transaction that caused it; recipient and body are envelopes. */
export interface MailOutboxTable {
  id: string;
  template: string;
  recipient: Buffer;
  recipientIndex: Buffer;
  subject: string;
  body: Buffer;
  status: Generated<MailStatus>;
  attempts: Generated<number>;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  sentAt: Date | null;
}


/** A user's authenticator-app (TOTP) secret: the seed is an AES-GCM envelope. */
export interface MfaTotpTable {
  id: string;
  userId: string;
  secret: Buffer;
  confirmedAt: Date | null;
  /** Highest RFC 6238 time step accepted (bigint: read back as a string by pg). */
  lastUsedStep: ColumnType<string | null, number | null | undefined, number | null>;
  createdAt: Date;
  updatedAt: Date;
}

/** One backup code (lookup secret), stored as a keyed HMAC only. */
export interface MfaBackupCodesTable {
  id: string;
  userId: string;
  codeHash: Buffer;
  usedAt: Date | null;
  createdAt: Date;
}

/** The second step of a login: SHA-256 of the mfaToken, bound to the user, few tries, single use. */
export interface MfaChallengesTable {
  id: string;
  userId: string;
  tokenHash: Buffer;
  passwordAt: Date;
  failures: ColumnType<number, number | undefined, number>;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
}

/** A registered passkey (WebAuthn credential): the public key only, never a secret. */
export interface PasskeysTable {
  id: string;
  userId: string;
  /** base64url credential id, unique across users. */
  credentialId: string;
  publicKey: Buffer;
  /** Signature counter (bigint: read back as a string by pg). */
  counter: ColumnType<string, number, number>;
  /** Transport hints, comma-separated (e.g. "internal,hybrid"). */
  transports: string;
  aaguid: string;
  name: string;
  backedUp: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** A WebAuthn ceremony challenge: single use, short-lived, bound to a user, a login's MFA challenge or nobody. */
export interface WebauthnChallengesTable {
  id: string;
  challenge: string;
  purpose: 'registration' | 'second-factor' | 'passwordless';
  userId: string | null;
  mfaChallengeId: string | null;
  createdAt: Date;
  expiresAt: Date;
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
  emailTokens: EmailTokensTable;
  mailOutbox: MailOutboxTable;
  auditEvents: AuditEventsTable;
  auditCheckpoints: AuditCheckpointsTable;
  auditSigningKeys: AuditSigningKeysTable;
  auditAlerts: AuditAlertsTable;
  auditAnalysisCursors: AuditAnalysisCursorsTable;
  auditAlertDeliveries: AuditAlertDeliveriesTable;
  auditAnalysisIpFailures: AuditAnalysisIpFailuresTable;
  targets: TargetsTable;
  mfaTotp: MfaTotpTable;
  mfaBackupCodes: MfaBackupCodesTable;
  mfaChallenges: MfaChallengesTable;
  passkeys: PasskeysTable;
  webauthnChallenges: WebauthnChallengesTable;
  targetVersions: TargetVersionsTable;
  scans: ScansTable;
  scanChunks: ScanChunksTable;
  attempts: AttemptsTable;
  scanEvents: ScanEventsTable;
  findings: FindingsTable;
  findingScans: FindingScansTable;
  findingComments: FindingCommentsTable;
  findingScanSync: FindingScanSyncTable;
  datasets: DatasetsTable;
  datasetItems: DatasetItemsTable;
  probeLibraryVersions: ProbeLibraryVersionsTable;
  probeLibrary: ProbeLibraryTable;
  legalHolds: LegalHoldsTable;
  retentionRuns: RetentionRunsTable;
  auditPurges: AuditPurgesTable;
}
