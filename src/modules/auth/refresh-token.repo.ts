import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';

/** A new family row (one per login). */
export interface NewRefreshTokenFamily {
  id: string;
  userId: string;
  sessionId: string;
  orgId: string | null;
  amr: string[];
  authTime: Date;
  createdAt: Date;
  expiresAt: Date;
}

/** A new token row; only the digest of the token is ever handed to SQL. */
export interface NewRefreshToken {
  id: string;
  familyId: string;
  tokenHash: Buffer;
  createdAt: Date;
  idleExpiresAt: Date;
}

/** Refresh tokens and their families: SQL only, no rules (those live in refresh-token.service.ts). */
export function createRefreshTokenRepo() {
  return {
    async insertFamily(tx: Tx, family: NewRefreshTokenFamily): Promise<void> {
      await tx
        .insertInto('refreshTokenFamilies')
        .values({ ...family, amr: JSON.stringify(family.amr) })
        .execute();
    },

    async insertToken(tx: Tx, token: NewRefreshToken): Promise<void> {
      await tx.insertInto('refreshTokens').values(token).execute();
    },

    /** The token with its family, by digest. */
    async findByHash(executor: Db | Tx, tokenHash: Buffer) {
      return executor
        .selectFrom('refreshTokens as t')
        .innerJoin('refreshTokenFamilies as f', 'f.id', 't.familyId')
        .select([
          't.id',
          't.familyId',
          't.idleExpiresAt',
          't.usedAt',
          'f.userId',
          'f.sessionId',
          'f.orgId',
          'f.amr',
          'f.authTime',
          'f.expiresAt',
          'f.revokedAt',
        ])
        .where('t.tokenHash', '=', tokenHash)
        .executeTakeFirst();
    },

    /**
     * Compare-and-set: marks the token used only if nobody did before. Concurrent callers serialise on
     * the row lock; under READ COMMITTED the loser re-checks `used_at IS NULL` and gets false.
     */
    async markUsed(tx: Tx, tokenId: string, replacedBy: string, now: Date): Promise<boolean> {
      const row = await tx
        .updateTable('refreshTokens')
        .set({ usedAt: now, replacedBy })
        .where('id', '=', tokenId)
        .where('usedAt', 'is', null)
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Touches the family only while it is live. A revocation updates the same row, so the two serialise:
     * either the revocation waits for this rotation (and then kills its successor through the family) or
     * this returns false.
     */
    async touchLiveFamily(tx: Tx, familyId: string, now: Date): Promise<boolean> {
      const row = await tx
        .updateTable('refreshTokenFamilies')
        .set({ lastRotatedAt: now })
        .where('id', '=', familyId)
        .where('revokedAt', 'is', null)
        .where('expiresAt', '>', now)
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    async revokeFamily(tx: Tx, familyId: string, reason: string, now: Date): Promise<number> {
      const rows = await tx
        .updateTable('refreshTokenFamilies')
        .set({ revokedAt: now, revokedReason: reason })
        .where('id', '=', familyId)
        .where('revokedAt', 'is', null)
        .returning('id')
        .execute();
      return rows.length;
    },

    /** Logout: the family (one per login) the access token's `sid` belongs to. */
    async revokeSession(tx: Tx, userId: string, sessionId: string, reason: string, now: Date): Promise<number> {
      const rows = await tx
        .updateTable('refreshTokenFamilies')
        .set({ revokedAt: now, revokedReason: reason })
        .where('userId', '=', userId)
        .where('sessionId', '=', sessionId)
        .where('revokedAt', 'is', null)
        .returning('id')
        .execute();
      return rows.length;
    },

    async revokeAllForUser(tx: Tx, userId: string, reason: string, now: Date): Promise<number> {
      const rows = await tx
        .updateTable('refreshTokenFamilies')
        .set({ revokedAt: now, revokedReason: reason })
        .where('userId', '=', userId)
        .where('revokedAt', 'is', null)
        .returning('id')
        .execute();
      return rows.length;
    },
  };
}

export type RefreshTokenRepo = ReturnType<typeof createRefreshTokenRepo>;
