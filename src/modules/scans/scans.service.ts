import type { ScanStatus } from '../../db/schema.js';
import type { Principal } from '../../http/principal.js';
import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import { normaliseName } from '../../http/schemas.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError, errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import type { JobQueue } from '../../platform/queue/index.js';
import type { ConverterService } from '../converters/converters.service.js';
import type { ProbeSelection } from '../probes/probe-contract.js';
import type { ProbesService } from '../probes/probes.service.js';
import type { ScorerService } from '../scorers/scorers.service.js';
import type { TargetsService } from '../targets/targets.service.js';
import { chunkJobId, RUN_CHUNK_JOB, scorersOf, TERMINAL_STATUSES, type FrozenPlan, type RunChunkPayload, type ScanEventLog, type ScanSettledListener } from './scan-contract.js';
import { buildPlan, type ChunkRange, type PlanInput } from './scan-plan.js';
import type { ScanRow, ScansRepo } from './scans.repo.js';

/** The body of POST /scans (scans.schemas.ts bounds every field): a probe selection and a plan's other input, named, with budgets. */
export interface CreateScanInput extends Omit<PlanInput, 'probes'> {
  /** Absent: the library's default set. */
  probes?: ProbeSelection;
  name: string;
  targetId: string;
  budgets?: { maxRequests?: number; maxWallSeconds?: number };
}

/** A create request checked and its plan frozen, before the write transaction opens (no reads inside it). */
export interface PreparedScan {
  orgId: string;
  input: CreateScanInput;
  plan: FrozenPlan;
  planHash: string;
  cellsTotal: number;
  chunks: ChunkRange[];
}

export type ScanControl = 'cancel' | 'pause' | 'resume';

/**
 * The lifecycle users drive (workers drive queued → running and the final statuses): pause only a
 * running scan, resume only a paused one, cancel anything not yet final. The guard is in the UPDATE.
 */
const CONTROLS: Record<ScanControl, { from: readonly ScanStatus[]; to: ScanStatus; reason: string | null }> = {
  cancel: { from: ['queued', 'running', 'paused'], to: 'cancelled', reason: 'Cancelled by a user.' },
  pause: { from: ['running'], to: 'paused', reason: 'Paused by a user.' },
  resume: { from: ['paused'], to: 'running', reason: null },
};

/** Chunk jobs enqueued at once after a create or resume (BullMQ round trips overlap, memory is bounded). */
const ENQUEUE_PARALLELISM = 16;

const iso = (date: Date | null) => date?.toISOString() ?? null;

export const toScanSummary = (row: ScanRow) => ({
  id: row.id,
  name: row.name,
  status: row.status,
  statusReason: row.statusReason,
  targetId: row.targetId,
  targetVersionId: row.targetVersionId,
  planHash: row.planHash,
  seed: row.seed,
  budgets: { maxRequests: row.budgetMaxRequests, maxWallSeconds: row.budgetMaxWallSeconds },
  coverage: {
    succeeded: row.succeeded,
    resisted: row.resisted,
    errored: row.errored,
    inconclusive: row.inconclusive,
    done: row.attemptsDone,
    total: row.cellsTotal,
    requestsUsed: row.requestsUsed,
  },
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
  startedAt: iso(row.startedAt),
  finishedAt: iso(row.finishedAt),
  version: row.version,
});

const planSummary = (row: ScanRow, plan: FrozenPlan) => ({
  probes: plan.probes.length,
  chains: plan.chains.length,
  samples: plan.samples,
  // No plan scorers: each probe's own, named once each.
  scorers: [...new Set(plan.probes.flatMap((probe) => scorersOf(plan, probe)).map((scorer) => scorer.id))],
  cells: row.cellsTotal,
  chunks: row.chunkCount,
  chunkSize: plan.chunkSize,
});

export function createScansService(deps: {
  db: Db;
  scansRepo: ScansRepo;
  targets: Pick<TargetsService, 'get'>;
  probes: Pick<ProbesService, 'select'>;
  converters: Pick<ConverterService, 'apply'>;
  scorers: Pick<ScorerService, 'validate'>;
  events: ScanEventLog;
  queue: Pick<JobQueue, 'enqueue'>;
  clock: Clock;
  logger: Pick<Logger, 'warn'>;
  /** Told when a user's action ends a scan (cancel): the findings module derives from what it stored. */
  onSettled?: ScanSettledListener;
}) {
  const { scansRepo: repo } = deps;
  const orgOf = (principal: Principal) => {
    if (!principal.orgId) throw errors.notFound('scan');
    return principal.orgId;
  };

  /** Feeds a chunk to the queue under its current run slot; a slot already known to the queue is a no-op. */
  const enqueueChunk = (payload: RunChunkPayload, runs: number) => deps.queue.enqueue(RUN_CHUNK_JOB, payload, { jobId: chunkJobId(payload.scanId, payload.chunkIndex, runs) });

  async function load(orgId: string, id: string) {
    const row = await repo.findInOrg(deps.db, orgId, id);
    if (!row) throw errors.notFound('scan');
    return row;
  }

  return {
    /** Checks the request and freezes its plan against the target's CURRENT version (reads only). */
    async prepare(principal: Principal, input: CreateScanInput): Promise<PreparedScan> {
      const orgId = orgOf(principal);
      const target = await deps.targets.get(principal, input.targetId);
      const { probes: selection, ...rest } = input;
      const probes = await deps.probes.select(orgId, selection);
      const built = buildPlan(deps, { id: target.id, versionId: target.versionId, kind: target.kind, limits: target.limits }, { ...rest, probes });
      return { orgId, input, ...built };
    },

    /** Inserts the scan, its chunk rows (the outbox) and its first status event in the caller's transaction. */
    async create(tx: Tx, principal: Principal, prepared: PreparedScan) {
      const { input, plan } = prepared;
      const now = deps.clock.now();
      const id = newId();
      const row = await repo.insertScan(
        tx,
        {
          id,
          orgId: prepared.orgId,
          targetId: plan.target.id,
          targetVersionId: plan.target.versionId,
          name: normaliseName(input.name),
          plan,
          planHash: prepared.planHash,
          seed: plan.seed,
          cellsTotal: prepared.cellsTotal,
          chunkCount: prepared.chunks.length,
          budgetMaxRequests: input.budgets?.maxRequests ?? null,
          budgetMaxWallSeconds: input.budgets?.maxWallSeconds ?? null,
        },
        prepared.chunks,
        principal.userId ?? null,
        now,
      );
      await deps.events.append(tx, { scanId: id, orgId: prepared.orgId, type: 'status', data: { status: row.status } });
      return { ...toScanSummary(row), plan: planSummary(row, plan) };
    },

    /** A user's lifecycle action; 409 when the scan's status does not allow it (e.g. resuming a running scan). */
    async control(tx: Tx, principal: Principal, id: string, action: ScanControl) {
      const orgId = orgOf(principal);
      const rule = CONTROLS[action];
      const now = deps.clock.now();
      const row = await repo.transition(tx, orgId, id, { ...rule, finished: TERMINAL_STATUSES.has(rule.to), actorId: principal.userId ?? null, now });
      if (!row) {
        const current = await repo.findInOrg(tx, orgId, id);
        if (!current) throw errors.notFound('scan');
        throw new AppError(409, 'scan_state_conflict', { detail: `A ${current.status} scan cannot be ${action === 'cancel' ? 'cancelled' : `${action}d`}.` });
      }
      // Jobs of the old run slots may already have run and found the scan paused: resume gives new ones.
      if (action === 'resume') await repo.renewIdleChunks(tx, id, now);
      await deps.events.append(tx, { scanId: id, orgId, type: 'status', data: { status: row.status, ...(row.statusReason ? { reason: row.statusReason } : {}) } });
      return toScanSummary(row);
    },

    /**
     * After COMMIT: enqueues the idle chunks of a runnable scan and wakes event followers. Failures are
     * logged, not thrown: the rows are committed, and the reconciler enqueues what was lost.
     */
    async dispatch(principal: Principal, id: string): Promise<void> {
      const orgId = orgOf(principal);
      await deps.events.notify(id);
      const row = await repo.findInOrg(deps.db, orgId, id);
      if (row && TERMINAL_STATUSES.has(row.status)) deps.onSettled?.({ orgId, scanId: id, status: row.status });
      if (!row || (row.status !== 'queued' && row.status !== 'running')) return;
      const chunks = await repo.idleChunksOf(id, deps.clock.now());
      try {
        for (let start = 0; start < chunks.length; start += ENQUEUE_PARALLELISM) {
          await Promise.all(chunks.slice(start, start + ENQUEUE_PARALLELISM).map((chunk) => enqueueChunk({ scanId: id, orgId, chunkIndex: chunk.chunkIndex }, chunk.runs)));
        }
      } catch (error) {
        deps.logger.warn({ err: (error as Error).message, scanId: id }, 'scan chunks not enqueued; the reconciler will retry');
      }
    },

    async list(principal: Principal, query: PaginationParams & { status?: ScanStatus }) {
      const orgId = orgOf(principal);
      const [beforeId] = decodeCursor(query.cursor, 1) ?? [];
      const rows = await repo.listForOrg(orgId, query.limit, beforeId as string | undefined, query.status);
      return toPage(rows, query.limit, (row) => [row.id], toScanSummary);
    },

    async get(principal: Principal, id: string) {
      const orgId = orgOf(principal);
      const row = await load(orgId, id);
      const plan = await repo.findPlan(deps.db, orgId, id);
      if (!plan) throw errors.notFound('scan');
      return { ...toScanSummary(row), plan: planSummary(row, plan) };
    },

    /** The decrypted frozen plan, for the executor (ids from a job payload, no principal). */
    loadPlan: (orgId: string, id: string) => repo.findPlan(deps.db, orgId, id),

    enqueueChunk,
  };
}

export type ScansService = ReturnType<typeof createScansService>;
