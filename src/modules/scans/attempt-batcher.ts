import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { newId } from '../../platform/ids.js';
import { toAttemptRecord, type CellOutcome } from './attempt-evidence.js';
import type { AttemptsRepo } from './attempts.repo.js';
import type { ScanEventLog } from './scan-contract.js';

/**
 * Stores a chunk's finished cells by group commit: a cell's lane waits until its attempt is durable,
 * and whatever finished while a write was running goes into the next one (≤ maxRows per statement).
 * Atomically: the attempts (ON CONFLICT DO NOTHING) and the scan's counters for exactly the rows
 * inserted (a cell another run stored first is not counted twice), as ONE statement sealed and built
 * beforehand (attemptsRepo.compileBatch: the scan row's lock covers no CPU work of ours). At most once
 * per progressEveryMs that statement runs in a transaction with a 'progress' event (followers woken
 * after COMMIT); otherwise it runs alone and commits by itself. Waiting for durability before the next cell is what
 * bounds the re-sends after a crash: each lane has at most one cell sent and not yet stored, so a dead
 * worker leaves at most maxInFlight cells to send again (issue 6 §2). Writes never overlap.
 */
export interface BatcherOptions {
  maxRows: number;
  progressEveryMs: number;
}

export interface ScanTotals {
  attemptsDone: number;
  cellsTotal: number;
  requestsUsed: number;
}

export function createAttemptBatcher(deps: {
  db: Db;
  clock: Clock;
  attemptsRepo: Pick<AttemptsRepo, 'compileBatch' | 'storeBatch'>;
  events: ScanEventLog;
  scan: { orgId: string; scanId: string };
  options: BatcherOptions;
  /** Told the scan's totals after every write, and the outcomes that write took (the budget check). */
  onTotals(totals: ScanTotals, written: readonly CellOutcome[]): void;
}) {
  const pending: Array<{ outcome: CellOutcome; resolve: () => void; reject: (error: unknown) => void }> = [];
  let writing: Promise<void> | undefined;
  let failure: unknown;
  let lastProgressMs = Number.NEGATIVE_INFINITY;

  async function writeBatch(outcomes: CellOutcome[]): Promise<void> {
    const records = outcomes.map((outcome) => toAttemptRecord(newId(), deps.scan, outcome));
    // Every request made costs the budget, even for a cell another run had already stored.
    const requests = outcomes.reduce((sum, outcome) => sum + outcome.requests, 0);
    const statement = deps.attemptsRepo.compileBatch(deps.scan.scanId, records, requests);
    const nowMs = deps.clock.nowMs();
    if (nowMs - lastProgressMs < deps.options.progressEveryMs) {
      // No event due: the one statement commits by itself, so the scan row's lock is held for its
      // execution only, with no client round trip (BEGIN, COMMIT) inside it.
      deps.onTotals(await deps.attemptsRepo.storeBatch(deps.db, statement), outcomes);
      return;
    }
    const appended = await deps.db.transaction().execute(async (tx) => {
      const totals = await deps.attemptsRepo.storeBatch(tx, statement);
      deps.onTotals(totals, outcomes);
      if (totals.inserted === 0) return false;
      lastProgressMs = nowMs;
      await deps.events.append(tx, {
        ...deps.scan,
        type: 'progress',
        data: {
          done: totals.attemptsDone,
          total: totals.cellsTotal,
          succeeded: totals.succeeded,
          resisted: totals.resisted,
          errored: totals.errored,
          inconclusive: totals.inconclusive,
          requestsUsed: totals.requestsUsed,
        },
      });
      return true;
    });
    if (appended) await deps.events.notify(deps.scan.scanId);
  }

  async function drain(): Promise<void> {
    while (pending.length > 0) {
      const batch = pending.splice(0, deps.options.maxRows);
      try {
        await writeBatch(batch.map((entry) => entry.outcome));
        for (const entry of batch) entry.resolve();
      } catch (error) {
        failure ??= error;
        for (const entry of batch) entry.reject(error);
      }
    }
  }

  const kick = () => {
    writing ??= drain().finally(() => {
      writing = undefined;
      // Added while the last batch committed, after the loop looked: start the next write.
      if (pending.length > 0) kick();
    });
  };

  return {
    /** Resolves once the attempt is committed (or found stored by another run); rejects if the write failed. */
    add(outcome: CellOutcome): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        pending.push({ outcome, resolve, reject });
        kick();
      });
    },

    /** Waits for every write started so far; rejects with the first write failure of this batcher. */
    async flush(): Promise<void> {
      while (writing) await writing;
      if (failure !== undefined) throw failure instanceof Error ? failure : new Error('attempt batch failed', { cause: failure });
    },

    get failed(): boolean {
      return failure !== undefined;
    },
  };
}

export type AttemptBatcher = ReturnType<typeof createAttemptBatcher>;
