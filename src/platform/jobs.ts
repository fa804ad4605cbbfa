import { Type } from 'typebox';
import { defineJob } from './queue/index.js';
import type { Db } from './db/database.js';
import type { Clock } from './clock.js';

/** Rows deleted per statement: batch work commits in bounded batches (DESIGN §5). */
const PURGE_BATCH = 500;

/**
 * Deletes Idempotency-Key records past their expiry. Idempotent: running twice deletes nothing
 * the second time.
 */
export const purgeIdempotencyRecordsJob = (deps: { db: Db; clock: Clock }) =>
  defineJob({
    name: 'platform.purge-idempotency-records',
    payload: Type.Object({}, { additionalProperties: false }),
    attempts: 3,
    handler: async (_payload, context) => {
      for (;;) {
        if (context.signal.aborted) return;
        const result = await deps.db
          .deleteFrom('idempotencyRecords')
          .where('id', 'in', (eb) =>
            eb.selectFrom('idempotencyRecords').select('id').where('expiresAt', '<', deps.clock.now()).limit(PURGE_BATCH),
          )
          .executeTakeFirst();
        if (Number(result.numDeletedRows) < PURGE_BATCH) return;
      }
    },
  });
