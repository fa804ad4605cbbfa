import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { newRowColumns } from '../../platform/db/common-columns.js';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';
import type { TargetLimits } from './target-call.js';
import type { TargetKind } from './targets.schemas.js';

/** Metadata of one stored credential: never its value. */
export interface CredentialMeta {
  header: string;
  setAt: string;
  setBy: string | null;
  fingerprint: string;
}

export interface NewTargetVersion extends Omit<TargetVersionRow, 'createdAt' | 'createdBy'> {
  /** Header name (lower case) → secret value; empty: none. */
  credentials: Record<string, string>;
}

/** A version as read: configuration decrypted, credentials left out (credentialsOf reads them). */
export interface TargetVersionRow {
  id: string;
  orgId: string;
  targetId: string;
  number: number;
  kind: TargetKind;
  config: unknown;
  limits: TargetLimits;
  credentialMeta: CredentialMeta[];
  createdAt: Date;
  createdBy: string | null;
}

const TARGET_COLUMNS = ['id', 'orgId', 'name', 'description', 'kind', 'currentVersionId', 'version', 'createdAt', 'updatedAt'] as const;
const VERSION_COLUMNS = ['id', 'orgId', 'targetId', 'number', 'kind', 'config', 'limits', 'credentialMeta', 'createdAt', 'createdBy'] as const;

/** Targets and their immutable versions: SQL only, no rules (those are in targets.service.ts). */
export function createTargetsRepo(deps: { db: Db; cipher: FieldCipher }) {
  // The one declaration of what is encrypted: a version's configuration (URLs, templates, system
  // prompts, canaries) and its credentials (API keys, secret header values).
  const sealed = encryptedColumns(deps.cipher, 'target_versions', { config: 'json', credentials: 'json' });

  const openVersion = (row: Omit<TargetVersionRow, 'config' | 'kind' | 'limits' | 'credentialMeta'> & { config: Buffer; kind: string; limits: unknown; credentialMeta: unknown }): TargetVersionRow => {
    const { config } = sealed.open({ id: row.id, config: row.config });
    return { ...row, config, kind: row.kind as TargetKind, limits: row.limits as TargetLimits, credentialMeta: row.credentialMeta as CredentialMeta[] };
  };

  const liveTarget = (executor: Db | Tx, orgId: string) =>
    executor.selectFrom('targets').select(TARGET_COLUMNS).where('orgId', '=', orgId).where('deletedAt', 'is', null);

  return {
    async insertTarget(tx: Tx, values: { id: string; orgId: string; name: string; description: string | null; kind: TargetKind; currentVersionId: string }, actorId: string | null, now: Date) {
      return tx.insertInto('targets').values({ ...newRowColumns(values.id, actorId, now), ...values }).returning(TARGET_COLUMNS).executeTakeFirstOrThrow();
    },

    async insertVersion(tx: Tx, version: NewTargetVersion, actorId: string | null, now: Date) {
      const { credentials, ...rest } = version;
      const envelopes = sealed.seal(version.id, { config: version.config, credentials: Object.keys(credentials).length > 0 ? credentials : null });
      const row = await tx
        .insertInto('targetVersions')
        .values({
          ...rest,
          config: envelopes.config as Buffer,
          credentials: envelopes.credentials,
          limits: JSON.stringify(version.limits),
          credentialMeta: JSON.stringify(version.credentialMeta),
          createdAt: now,
          createdBy: actorId,
        })
        .returning(VERSION_COLUMNS)
        .executeTakeFirstOrThrow();
      return openVersion(row);
    },

    /** Moves the target to a new current version; undefined when `expectedVersion` is stale (or it is gone). */
    async advance(tx: Tx, orgId: string, id: string, expectedVersion: number, set: { name: string; description: string | null; currentVersionId: string }, actorId: string | null, now: Date) {
      return tx
        .updateTable('targets')
        .set((eb) => ({ ...set, updatedAt: now, updatedBy: actorId, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('orgId', '=', orgId)
        .where('version', '=', expectedVersion)
        .where('deletedAt', 'is', null)
        .returning(TARGET_COLUMNS)
        .executeTakeFirst();
    },

    async softDelete(tx: Tx, orgId: string, id: string, actorId: string | null, now: Date): Promise<boolean> {
      const row = await tx
        .updateTable('targets')
        .set((eb) => ({ deletedAt: now, deletedBy: actorId, updatedAt: now, updatedBy: actorId, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('orgId', '=', orgId)
        .where('deletedAt', 'is', null)
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    /** A live target of the organisation; undefined for another org's, a deleted or an unknown one. */
    async findTarget(executor: Db | Tx, orgId: string, id: string) {
      return liveTarget(executor, orgId).where('id', '=', id).executeTakeFirst();
    },

    /** Keyset page by id (UUIDv7 is time-ordered); fetches limit + 1 to know if there is more. */
    async listTargets(orgId: string, limit: number, afterId: string | undefined) {
      let query = liveTarget(deps.db, orgId);
      if (afterId) query = query.where('id', '>', afterId);
      return query.orderBy('id').limit(limit + 1).execute();
    },

    /** One version's configuration (no credentials). */
    async findVersion(executor: Db | Tx, orgId: string, versionId: string) {
      const row = await executor.selectFrom('targetVersions').select(VERSION_COLUMNS).where('id', '=', versionId).where('orgId', '=', orgId).executeTakeFirst();
      return row ? openVersion(row) : undefined;
    },

    /** Several versions at once (a list page's current versions), in one query. */
    async findVersions(orgId: string, versionIds: readonly string[]) {
      if (versionIds.length === 0) return [];
      const rows = await deps.db.selectFrom('targetVersions').select(VERSION_COLUMNS).where('id', 'in', versionIds).where('orgId', '=', orgId).execute();
      return rows.map(openVersion);
    },

    /** Versions of one target, newest first, keyset by number. */
    async listVersions(orgId: string, targetId: string, limit: number, beforeNumber: number | undefined) {
      let query = deps.db.selectFrom('targetVersions').select(VERSION_COLUMNS).where('orgId', '=', orgId).where('targetId', '=', targetId);
      if (beforeNumber !== undefined) query = query.where('number', '<', beforeNumber);
      const rows = await query.orderBy('number', 'desc').limit(limit + 1).execute();
      return rows.map(openVersion);
    },

    /** The decrypted credentials of a version: only the send path and a new version's carry-over read them. */
    async credentialsOf(executor: Db | Tx, orgId: string, versionId: string): Promise<Record<string, string>> {
      const row = await executor.selectFrom('targetVersions').select(['id', 'credentials']).where('id', '=', versionId).where('orgId', '=', orgId).executeTakeFirst();
      if (!row) return {};
      const opened = sealed.open(row);
      return (opened.credentials as Record<string, string> | null) ?? {};
    },
  };
}

export type TargetsRepo = ReturnType<typeof createTargetsRepo>;
export type TargetRow = NonNullable<Awaited<ReturnType<TargetsRepo['findTarget']>>>;
