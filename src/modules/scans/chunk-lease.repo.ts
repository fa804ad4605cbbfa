import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';

/**
 * A chunk's lease in its own row (scan_chunks): whoever holds an unexpired lease runs the chunk; a
 * worker that dies simply stops renewing, and after the expiry another claims it (issue 6 §2). Times
 * come from the caller's clock, the same one the reconciler compares them with.
 */
export interface ClaimedChunk {
  scanId: string;
  chunkIndex: number;
  orgId: string;
  cellStart: number;
  cellEnd: number;
  runs: number;
}

export function createChunkLeaseRepo(deps: { db: Db }) {
  const { db } = deps;

  return {
    /**
     * Takes the lease of a pending chunk whose lease is free or expired (one statement, so two workers
     * cannot both win); undefined when someone else holds it or the chunk is done or unknown.
     */
    async claim(scanId: string, chunkIndex: number, owner: string, now: Date, leaseMs: number): Promise<ClaimedChunk | undefined> {
      return db
        .updateTable('scanChunks')
        .set((eb) => ({ leaseOwner: owner, leaseExpiresAt: new Date(now.getTime() + leaseMs), runs: eb('runs', '+', 1), updatedAt: now }))
        .where('scanId', '=', scanId)
        .where('chunkIndex', '=', chunkIndex)
        .where('status', '=', 'pending')
        .where((eb) => eb.or([eb('leaseExpiresAt', 'is', null), eb('leaseExpiresAt', '<', now)]))
        .returning(['scanId', 'chunkIndex', 'orgId', 'cellStart', 'cellEnd', 'runs'])
        .executeTakeFirst();
    },

    /** Pushes the expiry on while `owner` still holds it; false when the lease was lost (expired and taken). */
    async renew(scanId: string, chunkIndex: number, owner: string, now: Date, leaseMs: number): Promise<boolean> {
      const row = await db
        .updateTable('scanChunks')
        .set({ leaseExpiresAt: new Date(now.getTime() + leaseMs), updatedAt: now })
        .where('scanId', '=', scanId)
        .where('chunkIndex', '=', chunkIndex)
        .where('leaseOwner', '=', owner)
        .where('status', '=', 'pending')
        .returning('chunkIndex')
        .executeTakeFirst();
      return row !== undefined;
    },

    /** Gives the lease back with the chunk still pending (stopped early): the next run may claim it at once. */
    async release(scanId: string, chunkIndex: number, owner: string, now: Date): Promise<void> {
      await db
        .updateTable('scanChunks')
        .set({ leaseOwner: null, leaseExpiresAt: null, updatedAt: now })
        .where('scanId', '=', scanId)
        .where('chunkIndex', '=', chunkIndex)
        .where('leaseOwner', '=', owner)
        .where('status', '=', 'pending')
        .execute();
    },

    /** Marks the chunk done (every cell in range has an attempt); idempotent. */
    async markDone(scanId: string, chunkIndex: number, now: Date): Promise<void> {
      await db
        .updateTable('scanChunks')
        .set({ status: 'done', leaseOwner: null, leaseExpiresAt: null, updatedAt: now })
        .where('scanId', '=', scanId)
        .where('chunkIndex', '=', chunkIndex)
        .where('status', '=', 'pending')
        .execute();
    },

    async pendingCount(scanId: string): Promise<number> {
      const row = await db
        .selectFrom('scanChunks')
        .select(sql<string>`count(*)`.as('count'))
        .where('scanId', '=', scanId)
        .where('status', '=', 'pending')
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },
  };
}

export type ChunkLeaseRepo = ReturnType<typeof createChunkLeaseRepo>;
