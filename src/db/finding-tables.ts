import type { ColumnType, Generated } from 'kysely';
import type { CommonColumns } from '../platform/db/common-columns.js';

/** Findings (issue 7 §4): vulnerabilities derived from succeeded attempts, deduplicated per organisation by fingerprint. */

export type FindingStatus = 'new' | 'confirmed' | 'in-progress' | 'fixed' | 'accepted-risk' | 'false-positive' | 'reopened';
export type SeverityLabel = 'critical' | 'high' | 'medium' | 'low' | 'info';

export interface FindingsTable extends CommonColumns {
  orgId: string;
  /** SHA-256 (hex) of target lineage, probe family, primary OWASP 2026 ref and normalised objective. */
  fingerprint: string;
  /** The target across its versions (scans.target_id). */
  targetId: string;
  family: string;
  /** The primary OWASP LLM 2026 ref; null when the probe maps to none. */
  primaryRef: string | null;
  taxonomyRefs: ColumnType<string[], string, string>;
  objective: string;
  title: string;
  category: string;
  complexity: string;
  severityScore: number;
  severityLabel: SeverityLabel;
  status: ColumnType<FindingStatus, FindingStatus | undefined, FindingStatus>;
  assigneeId: string | null;
  firstSeenAt: Date;
  lastSeenAt: Date;
  /** Succeeded attempts over every scan that showed it. */
  occurrences: number;
  /** Succeeded + resisted attempts (errored and inconclusive ones prove nothing). */
  trials: number;
  lastScanId: string;
  fixedAt: Date | null;
  reopenedCount: Generated<number>;
}

/** One scan's contribution to a finding; replaced whole on each derivation of that scan (idempotent). */
export interface FindingScansTable {
  findingId: string;
  scanId: string;
  orgId: string;
  succeeded: number;
  trials: number;
  /** At most 5 succeeded attempt ids, earliest first. */
  representativeAttemptIds: ColumnType<string[], string, string>;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  scanCreatedAt: Date;
  derivedAt: Date;
}

/** Triage notes: append-only; the body is an AES-GCM envelope (it may hold sensitive triage text). */
export interface FindingCommentsTable {
  id: string;
  orgId: string;
  findingId: string;
  authorId: string | null;
  body: Buffer;
  createdAt: ColumnType<Date, Date | undefined, never>;
}

/** What derivation has seen of each scan, so the periodic sweep finds scans whose attempts moved on. */
export interface FindingScanSyncTable {
  scanId: string;
  orgId: string;
  attemptsSeen: number;
  scanStatus: string;
  derivedAt: Date;
}
