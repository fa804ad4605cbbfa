import type { ColumnType, Generated, Selectable } from 'kysely';

/** The audit trail's tables (ADR 0007); `Database` in schema.ts joins them with the others. */

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
