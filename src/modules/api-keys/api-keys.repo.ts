import type { Selectable } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { newRowColumns } from '../../platform/db/common-columns.js';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';
import type { ApiKeysTable } from '../../db/schema.js';

export interface NewApiKey {
  orgId: string;
  userId: string;
  name: string;
  lookupPrefix: string;
  secretHash: Buffer;
  scopes: string[];
  expiresAt: Date | null;
}

/** Columns every read returns: never the secret hash, which only the authenticator's lookup selects. */
const PUBLIC_COLUMNS = [
  'id',
  'orgId',
  'userId',
  'name',
  'lookupPrefix',
  'scopes',
  'expiresAt',
  'lastUsedAt',
  'lastUsedIp',
  'revokedAt',
  'createdAt',
  'updatedAt',
  'version',
] as const;

/** API keys: SQL only, no rules (those live in api-keys.service.ts and api-key.authenticator.ts). */
export function createApiKeysRepo(deps: { db: Db; cipher: FieldCipher }) {
  // The one declaration of what is encrypted in api_keys: the last-used address (personal data).
  const sealed = encryptedColumns(deps.cipher, 'api_keys', { lastUsedIp: 'text' });
  const open = <R extends Pick<Selectable<ApiKeysTable>, 'id' | 'lastUsedIp'>>(row: R) => sealed.open(row);

  return {
    async insert(tx: Tx, id: string, key: NewApiKey, actorId: string | null, now: Date) {
      const row = await tx
        .insertInto('apiKeys')
        .values({ ...newRowColumns(id, actorId, now), ...key, scopes: JSON.stringify(key.scopes) })
        .returning(PUBLIC_COLUMNS)
        .executeTakeFirstOrThrow();
      return open(row);
    },

    /** A live (not deleted) key of the organisation, revoked or not; undefined for any other org's. */
    async findInOrg(executor: Db | Tx, orgId: string, id: string) {
      const row = await executor
        .selectFrom('apiKeys')
        .select(PUBLIC_COLUMNS)
        .where('id', '=', id)
        .where('orgId', '=', orgId)
        .where('deletedAt', 'is', null)
        .executeTakeFirst();
      return row ? open(row) : undefined;
    },

    /** Keyset page by id (UUIDv7 is time-ordered); fetches limit + 1 to know if there is more. */
    async listForOrg(orgId: string, limit: number, afterId: string | undefined) {
      let query = deps.db.selectFrom('apiKeys').select(PUBLIC_COLUMNS).where('orgId', '=', orgId).where('deletedAt', 'is', null);
      if (afterId) query = query.where('id', '>', afterId);
      const rows = await query.orderBy('id').limit(limit + 1).execute();
      return rows.map(open);
    },

    /** Candidates for a presented key: unrevoked rows with that lookup prefix (normally one). */
    async findForAuthentication(executor: Db | Tx, lookupPrefix: string) {
      return executor
        .selectFrom('apiKeys')
        .select(['id', 'orgId', 'userId', 'secretHash', 'scopes', 'expiresAt', 'lastUsedAt'])
        .where('lookupPrefix', '=', lookupPrefix)
        .where('revokedAt', 'is', null)
        .where('deletedAt', 'is', null)
        .execute();
    },

    /** Revokes an unrevoked key; false when it was already revoked (or is gone). */
    async revoke(tx: Tx, id: string, actorId: string | null, now: Date): Promise<boolean> {
      const row = await tx
        .updateTable('apiKeys')
        .set((eb) => ({ revokedAt: now, revokedBy: actorId, updatedAt: now, updatedBy: actorId, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('revokedAt', 'is', null)
        .where('deletedAt', 'is', null)
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Records use at most once per `minIntervalMs`: the time check is in the statement, so concurrent
     * requests (and other processes) write once, and a key used constantly costs one write a minute.
     */
    async recordUse(id: string, ip: string, now: Date, minIntervalMs: number): Promise<void> {
      const threshold = new Date(now.getTime() - minIntervalMs);
      await deps.db
        .updateTable('apiKeys')
        .set({ lastUsedAt: now, ...sealed.seal(id, { lastUsedIp: ip }) })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('lastUsedAt', 'is', null), eb('lastUsedAt', '<', threshold)]))
        .execute();
    },

    /**
     * Key rotation of BLIND_INDEX_KEY (ADR 0012): the secret is never stored, so its hash moves to the
     * current version only when the key is presented. Compare-and-set on the old hash: a concurrent
     * request that re-indexed first wins, and nothing else changes.
     */
    async reindexSecret(id: string, previous: Buffer, current: Buffer): Promise<void> {
      await deps.db.updateTable('apiKeys').set({ secretHash: current }).where('id', '=', id).where('secretHash', '=', previous).execute();
    },
  };
}

export type ApiKeysRepo = ReturnType<typeof createApiKeysRepo>;
export type ApiKey = Awaited<ReturnType<ApiKeysRepo['insert']>>;
