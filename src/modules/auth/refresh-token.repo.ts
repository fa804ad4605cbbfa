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
    /** A login's family and its first token in one statement (one round trip on the login path). */
    async insertFamilyWithToken(tx: Tx, family: NewRefreshTokenFamily, token: NewRefreshToken): Promise<void> {
      await tx
        .with('family', (db) => db.insertInto('refreshTokenFamilies').values({ ...family, amr: JSON.stringify(family.amr) }).returning('id'))
        .insertInto('refreshTokens')
        .values(token)
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

    /**
     * Deletes up to `batch` tokens of dead families (absolute expiry before `expiredBefore`, or revoked
     * before `revokedBefore`), so the family delete that follows cascades to few rows.
     */
    async purgeTokensOfDeadFamilies(executor: Db | Tx, dead: DeadFamilyCutoffs, batch: number): Promise<number> {
      const result = await executor
        .deleteFrom('refreshTokens')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('refreshTokens as t')
            .innerJoin('refreshTokenFamilies as f', 'f.id', 't.familyId')
            .select('t.id')
            .where((w) => w.or([w('f.expiresAt', '<', dead.expiredBefore), w('f.revokedAt', '<', dead.revokedBefore)]))
            .limit(batch),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Deletes up to `batch` dead families (same cutoffs); their remaining tokens go with them (FK cascade). */
    async purgeDeadFamilies(executor: Db | Tx, dead: DeadFamilyCutoffs, batch: number): Promise<number> {
      const result = await executor
        .deleteFrom('refreshTokenFamilies')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('refreshTokenFamilies')
            .select('id')
            .where((w) => w.or([w('expiresAt', '<', dead.expiredBefore), w('revokedAt', '<', dead.revokedBefore)]))
            .limit(batch),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

/** Which families are dead for good: expired before the first instant, or revoked before the second. */
export interface DeadFamilyCutoffs {
  expiredBefore: Date;
  revokedBefore: Date;
}

export type RefreshTokenRepo = ReturnType<typeof createRefreshTokenRepo>;
