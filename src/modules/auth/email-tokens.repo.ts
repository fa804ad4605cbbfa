import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';
import type { EmailTokenPurpose, OrgRole } from '../../db/schema.js';

export interface NewEmailToken {
  id: string;
  purpose: EmailTokenPurpose;
  tokenHash: Buffer;
  email: string;
  emailIndex: Buffer;
  userId: string | null;
  orgId: string | null;
  role: OrgRole | null;
  payload: unknown;
  createdBy: string | null;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * Which open tokens a revocation covers: all of one purpose for an email (optionally only those of one
 * organisation), a user, or an organisation's one token.
 */
export type EmailTokenScope = { emailIndexes: Buffer[]; orgId?: string } | { userId: string } | { orgId: string; id: string };

export function createEmailTokensRepo(deps: { cipher: FieldCipher }) {
  // The recipient is PII; the payload may hold a password hash (registration) or names.
  const sealed = encryptedColumns(deps.cipher, 'email_tokens', { email: 'text', payload: 'json' });

  return {
    async insert(tx: Tx, token: NewEmailToken): Promise<void> {
      const { email, payload, ...clear } = token;
      await tx
        .insertInto('emailTokens')
        .values({ ...clear, ...sealed.seal(token.id, { email, payload: payload ?? null }) })
        .execute();
    },

    /**
     * Marks an open, unexpired token used and returns it; undefined when it is unknown, used, revoked or
     * expired. One conditional UPDATE: of two concurrent uses exactly one gets the row.
     */
    async consume(tx: Tx, purpose: EmailTokenPurpose, tokenHash: Buffer, now: Date, usedBy: string | null) {
      const row = await tx
        .updateTable('emailTokens')
        .set({ usedAt: now, usedBy })
        .where('tokenHash', '=', tokenHash)
        .where('purpose', '=', purpose)
        .where('usedAt', 'is', null)
        .where('revokedAt', 'is', null)
        .where('expiresAt', '>', now)
        .returningAll()
        .executeTakeFirst();
      return row ? sealed.open(row) : undefined;
    },

    /** An open, unexpired token by digest, without using it (to validate before slow work). */
    async findOpen(executor: Db | Tx, purpose: EmailTokenPurpose, tokenHash: Buffer, now: Date) {
      const row = await executor
        .selectFrom('emailTokens')
        .selectAll()
        .where('tokenHash', '=', tokenHash)
        .where('purpose', '=', purpose)
        .where('usedAt', 'is', null)
        .where('revokedAt', 'is', null)
        .where('expiresAt', '>', now)
        .executeTakeFirst();
      return row ? sealed.open(row) : undefined;
    },

    /** Revokes open tokens of a purpose in a scope; returns how many. */
    async revoke(tx: Tx, purpose: EmailTokenPurpose, scope: EmailTokenScope, now: Date, revokedBy: string | null): Promise<number> {
      let query = tx
        .updateTable('emailTokens')
        .set({ revokedAt: now, revokedBy })
        .where('purpose', '=', purpose)
        .where('usedAt', 'is', null)
        .where('revokedAt', 'is', null);
      if ('emailIndexes' in scope) {
        query = query.where('emailIndex', 'in', scope.emailIndexes);
        if (scope.orgId !== undefined) query = query.where('orgId', '=', scope.orgId);
      }
      else if ('userId' in scope) query = query.where('userId', '=', scope.userId);
      else query = query.where('orgId', '=', scope.orgId).where('id', '=', scope.id);
      const result = await query.executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    /** An organisation's tokens of a purpose, newest first, for listing (cursor: the last id seen). */
    async listForOrg(executor: Db | Tx, orgId: string, purpose: EmailTokenPurpose, limit: number, beforeId: string | undefined) {
      let query = executor.selectFrom('emailTokens').selectAll().where('orgId', '=', orgId).where('purpose', '=', purpose);
      if (beforeId) query = query.where('id', '<', beforeId);
      const rows = await query.orderBy('id', 'desc').limit(limit + 1).execute();
      return rows.map((row) => sealed.open(row));
    },

    /** Deletes up to `batch` tokens that expired before `cutoff` (used, revoked or not). */
    async purgeExpired(executor: Db | Tx, cutoff: Date, batch: number): Promise<number> {
      const result = await executor
        .deleteFrom('emailTokens')
        .where('id', 'in', (eb) => eb.selectFrom('emailTokens').select('id').where('expiresAt', '<', cutoff).limit(batch))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type EmailTokensRepo = ReturnType<typeof createEmailTokensRepo>;
export type EmailToken = NonNullable<Awaited<ReturnType<EmailTokensRepo['findOpen']>>>;
