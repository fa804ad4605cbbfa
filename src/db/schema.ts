import type { ColumnType, Generated, Selectable } from 'kysely';
import type { CommonColumns } from '../platform/db/common-columns.js';

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

/**
 * Audit events (ADR 0007): append-only; `seq` and `hash` are set once by the sealer. `clientIp` and
 * `userAgent` are envelopes; `changedFields` holds field names, never values.
 */
export interface AuditEventsTable {
  id: string;
  occurredAt: Date;
  actorType: 'user' | 'api-key' | 'oauth-client' | 'system' | 'anonymous';
  actorId: string | null;
  actorUserId: string | null;
  orgId: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  subjectIndex: Buffer | null;
  outcome: 'success' | 'denied' | 'error';
  statusCode: number | null;
  requestId: string | null;
  clientIp: Buffer | null;
  userAgent: Buffer | null;
  changedFields: ColumnType<string[], string | undefined, never>;
  detail: ColumnType<Record<string, unknown>, string | undefined, never>;
  /** Position in the chain (int8, read as a number by both adapters); null until sealed. */
  seq: ColumnType<number | null, never, number>;
  hash: ColumnType<Buffer | null, never, Buffer>;
}

/** An audit event as stored and read back (envelopes still sealed): the shape every audit row type narrows. */
export type StoredAuditEvent = Selectable<AuditEventsTable>;

/** Signed head hashes of the audit chain (append-only). */
export interface AuditCheckpointsTable {
  seq: ColumnType<number, number, never>;
  headHash: Buffer;
  keyVersion: number;
  signature: Buffer;
  signedAt: Date;
}

/** Public halves of the audit signing keys, kept after a key retires so old checkpoints verify. */
export interface AuditSigningKeysTable {
  version: number;
  publicKey: Buffer;
  createdAt: Date;
}

export type AuditAlertSeverity = 'low' | 'medium' | 'high' | 'critical';

/** An alert raised by an analysis rule (issue 4 item 4); only the acknowledgement columns ever change. */
export interface AuditAlertsTable {
  id: string;
  orgId: string | null;
  rule: string;
  severity: AuditAlertSeverity;
  /** Ids and counts only, never personal data. */
  summary: string;
  groupKey: string;
  dedupeKey: string;
  triggeredAt: Date;
  firstSeq: number;
  lastSeq: number;
  eventIds: ColumnType<string[], string, never>;
  detail: ColumnType<Record<string, string | number | boolean | null>, string, never>;
  createdAt: Date;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  note: string | null;
}

/** How far an analysis has read the sealed chain. */
export interface AuditAnalysisCursorsTable {
  name: string;
  lastSeq: number;
  updatedAt: Date;
}

/** The alert webhook outbox: one row per alert, written with it. */
export interface AuditAlertDeliveriesTable {
  alertId: string;
  status: Generated<'pending' | 'delivered' | 'failed'>;
  attempts: Generated<number>;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** Failed sign-ins by blind index of the client address (the address itself is never stored here). */
export interface AuditAnalysisIpFailuresTable {
  eventId: string;
  seq: number;
  ipIndex: Buffer;
  occurredAt: Date;
}

/** An organisation's AI endpoint; its configuration lives in immutable versions (target_versions). */
export interface TargetsTable extends CommonColumns {
  orgId: string;
  name: string;
  description: string | null;
  kind: string;
  currentVersionId: string;
}

/** One immutable configuration of a target: config and credentials are envelopes, limits and credential metadata clear. */
export interface TargetVersionsTable {
  id: string;
  orgId: string;
  targetId: string;
  number: number;
  kind: string;
  config: Buffer;
  limits: ColumnType<Record<string, unknown>, string, never>;
  credentials: Buffer | null;
  credentialMeta: ColumnType<Array<Record<string, unknown>>, string, never>;
  createdAt: ColumnType<Date, Date | undefined, never>;
  createdBy: string | null;
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

/** A scan: a frozen, encrypted plan run against one target version; counters kept with its attempts. */
export interface ScansTable extends CommonColumns {
  orgId: string;
  targetId: string;
  targetVersionId: string;
  name: string;
  status: ScanStatus;
  statusReason: string | null;
  plan: Buffer;
  planHash: string;
  seed: number;
  cellsTotal: number;
  chunkCount: number;
  budgetMaxRequests: number | null;
  budgetMaxWallSeconds: number | null;
  requestsUsed: Generated<number>;
  attemptsDone: Generated<number>;
  succeeded: Generated<number>;
  resisted: Generated<number>;
  errored: Generated<number>;
  inconclusive: Generated<number>;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export type ScanStatus = 'queued' | 'running' | 'paused' | 'completed' | 'cancelled' | 'failed' | 'partial';
export type AttemptVerdict = 'succeeded' | 'resisted' | 'errored' | 'inconclusive';

/** A contiguous range of plan cells; the row is the unit of work, its lease and the queue's outbox. */
export interface ScanChunksTable {
  scanId: string;
  chunkIndex: number;
  orgId: string;
  cellStart: number;
  /** Exclusive. */
  cellEnd: number;
  status: Generated<'pending' | 'done'>;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  runs: Generated<number>;
  updatedAt: Generated<Date>;
}

/** One plan cell's evidence: append-only; prompts, request, response and scores are AES-GCM envelopes. */
export interface AttemptsTable {
  id: string;
  orgId: string;
  scanId: string;
  cellIndex: number;
  probeId: string;
  chainIndex: number;
  sampleIndex: number;
  converterLineage: ColumnType<unknown[], string, never>;
  promptOriginal: Buffer;
  promptConverted: Buffer;
  promptSha256: Buffer;
  promptBytes: number;
  promptTruncated: boolean;
  requestRedacted: Buffer;
  response: Buffer | null;
  responseSha256: Buffer | null;
  responseBytes: number | null;
  responseTruncated: Generated<boolean>;
  statusCode: number | null;
  latencyMs: number;
  retries: number;
  errorCode: string | null;
  scores: Buffer;
  verdict: AttemptVerdict;
  createdAt: ColumnType<Date, Date | undefined, never>;
}

/** The ordered log of a scan's progress that Server-Sent Events resume from (ids only grow). */
export interface ScanEventsTable {
  id: Generated<number>;
  scanId: string;
  orgId: string;
  type: string;
  data: ColumnType<Record<string, unknown>, string, never>;
  createdAt: Generated<Date>;
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
}
