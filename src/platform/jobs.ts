import { Type } from 'typebox';
import { defineJob } from './queue/index.js';
import type { Db } from './db/database.js';
import type { Clock } from './clock.js';

/** Rows deleted per statement: batch work commits in bounded batches (DESIGN §5). */
export const PURGE_BATCH = 500;

/** The payload of every periodic housekeeping job: it takes its cutoffs from the clock, not the enqueuer. */
export const EmptyPayload = Type.Object({}, { additionalProperties: false });

/**
 * Runs `deleteBatch` (one autocommitted statement deleting at most `batch` rows) until a batch comes
 * back short or the queue asks the job to stop. Each statement commits on its own, so an interrupted
 * run keeps its progress and the next run (handlers are idempotent) finishes the rest. Returns the
 * number of rows deleted.
 */
export async function purgeInBatches(signal: AbortSignal, deleteBatch: (batch: number) => Promise<number>, batch = PURGE_BATCH): Promise<number> {
  let total = 0;
  for (;;) {
    if (signal.aborted) return total;
    const deleted = await deleteBatch(batch);
    total += deleted;
    if (deleted < batch) return total;
  }
}

/**
 * A periodic job: no payload (it takes what it needs from the clock and the database, not the
 * enqueuer), a body that stops when the queue asks it to. With `attempts: 1` the next scheduled run is
 * the retry.
 */
export const definePeriodicJob = <const N extends string>(name: N, run: (signal: AbortSignal) => Promise<unknown>, attempts = 1) =>
  defineJob({
    name,
    payload: EmptyPayload,
    attempts,
    handler: async (_payload, context) => {
      await run(context.signal);
    },
  });

/**
 * A periodic housekeeping job: three attempts, and a body that deletes in batches (`purgeInBatches`)
 * until done or aborted, so every purge has the same shape and stop behaviour.
 */
export const definePurgeJob = <const N extends string>(name: N, purge: (signal: AbortSignal) => Promise<unknown>) => definePeriodicJob(name, purge, 3);

/**
 * Deletes Idempotency-Key records past their expiry. Idempotent: running twice deletes nothing
 * the second time.
 */
export const purgeIdempotencyRecordsJob = (deps: { db: Db; clock: Clock }) =>
  definePurgeJob('platform.purge-idempotency-records', (signal) =>
    purgeInBatches(signal, async (batch) => {
      const result = await deps.db
        .deleteFrom('idempotencyRecords')
        .where('id', 'in', (eb) => eb.selectFrom('idempotencyRecords').select('id').where('expiresAt', '<', deps.clock.now()).limit(batch))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    }),
  );
