import type { ColumnType, Generated } from 'kysely';
import type { CommonColumns } from '../platform/db/common-columns.js';

/** The red-teaming tables: targets and their versions, scans, chunks, attempts and scan events (ADRs 0008, 0010). */

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
