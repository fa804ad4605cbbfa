import { sql } from 'kysely';
import type { FindingStatus, SeverityLabel } from '../../db/schema.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';

/** Findings, their per-scan contributions and comments: SQL only (the rules are in findings.derive.ts and findings.service.ts). */

export const FINDING_COLUMNS = [
  'id',
  'orgId',
  'targetId',
  'family',
  'primaryRef',
  'taxonomyRefs',
  'objective',
  'title',
  'category',
  'complexity',
  'severityScore',
  'severityLabel',
  'status',
  'assigneeId',
  'firstSeenAt',
  'lastSeenAt',
  'occurrences',
  'trials',
  'lastScanId',
  'fixedAt',
  'reopenedCount',
  'version',
  'createdAt',
  'updatedAt',
] as const;

/** The descriptive part of a finding, written on insert and refreshed by every derivation. */
export interface FindingIdentity {
  orgId: string;
  fingerprint: string;
  targetId: string;
  family: string;
  primaryRef: string | null;
  taxonomyRefs: string[];
  objective: string;
  title: string;
  category: string;
  complexity: string;
}

export interface FindingCounters {
  occurrences: number;
  trials: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
  lastScanId: string;
  severityScore: number;
  severityLabel: SeverityLabel;
}

export interface Contribution {
  findingId: string;
  scanId: string;
  orgId: string;
  succeeded: number;
  trials: number;
  representativeAttemptIds: string[];
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  scanCreatedAt: Date;
  derivedAt: Date;
}

export interface FindingFilters {
  status?: FindingStatus | undefined;
  severity?: SeverityLabel | undefined;
  targetId?: string | undefined;
  /** Matches a finding holding any of these refs. */
  refs?: readonly string[] | undefined;
}

export function createFindingsRepo(deps: { db: Db; cipher: FieldCipher }) {
  const sealed = encryptedColumns(deps.cipher, 'finding_comments', { body: 'text' });
  const live = (executor: Db | Tx, orgId: string) => executor.selectFrom('findings').where('orgId', '=', orgId).where('deletedAt', 'is', null);

  return {
    /**
     * Inserts the finding or, when its fingerprint is taken, locks the existing row (the unique index
     * makes two concurrent derivations meet here: the second waits and updates). Refreshes the identity.
     */
    async upsert(tx: Tx, id: string, identity: FindingIdentity, initial: FindingCounters, now: Date) {
      const values = { ...identity, taxonomyRefs: JSON.stringify(identity.taxonomyRefs) };
      return tx
        .insertInto('findings')
        .values({ id, createdAt: now, updatedAt: now, createdBy: null, updatedBy: null, deletedAt: null, deletedBy: null, ...values, ...initial })
        .onConflict((oc) =>
          oc
            .columns(['orgId', 'fingerprint'])
            .where('deletedAt', 'is', null)
            .doUpdateSet({ taxonomyRefs: values.taxonomyRefs, title: values.title, category: values.category, complexity: values.complexity }),
        )
        .returning(['id', 'status', 'fixedAt', sql<boolean>`xmax = 0`.as('inserted')])
        .executeTakeFirstOrThrow();
    },

    /** Locks and returns the live findings of these fingerprints (for contributions that prove nothing new). */
    async lockByFingerprints(tx: Tx, orgId: string, fingerprints: readonly string[]) {
      if (fingerprints.length === 0) return [];
      return live(tx, orgId).select(['id', 'fingerprint']).where('fingerprint', 'in', fingerprints).orderBy('fingerprint').forUpdate().execute();
    },

    /** Replaces this scan's contribution to the finding. */
    async putContribution(tx: Tx, row: Contribution) {
      const values = { ...row, representativeAttemptIds: JSON.stringify(row.representativeAttemptIds) };
      await tx
        .insertInto('findingScans')
        .values(values)
        .onConflict((oc) =>
          oc.columns(['findingId', 'scanId']).doUpdateSet({
            succeeded: values.succeeded,
            trials: values.trials,
            representativeAttemptIds: values.representativeAttemptIds,
            firstSeenAt: values.firstSeenAt,
            lastSeenAt: values.lastSeenAt,
            derivedAt: values.derivedAt,
          }),
        )
        .execute();
    },

    /** Sums over every scan's contribution, and the scan that showed it last. */
    async totals(tx: Tx, findingId: string) {
      const sums = await tx
        .selectFrom('findingScans')
        .select((eb) => [
          sql<number>`coalesce(sum(succeeded), 0)::int`.as('occurrences'),
          sql<number>`coalesce(sum(trials), 0)::int`.as('trials'),
          eb.fn.min('firstSeenAt').as('firstSeenAt'),
          eb.fn.max('lastSeenAt').as('lastSeenAt'),
        ])
        .where('findingId', '=', findingId)
        .executeTakeFirstOrThrow();
      const last = await tx
        .selectFrom('findingScans')
        .select('scanId')
        .where('findingId', '=', findingId)
        .where('succeeded', '>', 0)
        .orderBy('lastSeenAt', 'desc')
        .orderBy('scanId', 'desc')
        .limit(1)
        .executeTakeFirst();
      return { ...sums, lastScanId: last?.scanId };
    },

    /** Counters and severity from a derivation: no version bump (a triage edit does not conflict with them). */
    async setCounters(tx: Tx, id: string, counters: FindingCounters, now: Date) {
      await tx.updateTable('findings').set({ ...counters, updatedAt: now }).where('id', '=', id).execute();
    },

    /** A regression: a fixed finding shown again by a later scan. */
    async reopen(tx: Tx, id: string, now: Date) {
      return tx
        .updateTable('findings')
        .set((eb) => ({ status: 'reopened' as const, reopenedCount: eb('reopenedCount', '+', 1), version: eb('version', '+', 1), updatedAt: now, updatedBy: null }))
        .where('id', '=', id)
        .where('status', '=', 'fixed')
        .returning(['id', 'reopenedCount'])
        .executeTakeFirst();
    },

    async find(executor: Db | Tx, orgId: string, id: string) {
      return live(executor, orgId).select(FINDING_COLUMNS).where('id', '=', id).executeTakeFirst();
    },

    /** Newest first (UUIDv7 ids are time-ordered); fetches limit + 1 to know if there is more. */
    async list(orgId: string, filters: FindingFilters, limit: number, beforeId: string | undefined) {
      let query = live(deps.db, orgId).select(FINDING_COLUMNS);
      if (filters.status) query = query.where('status', '=', filters.status);
      if (filters.severity) query = query.where('severityLabel', '=', filters.severity);
      if (filters.targetId) query = query.where('targetId', '=', filters.targetId);
      const refs = filters.refs;
      if (refs) {
        if (refs.length === 0) return [];
        query = query.where((eb) => eb.or(refs.map((ref) => eb(sql`taxonomy_refs`, '@>', sql`${JSON.stringify([ref])}::jsonb`))));
      }
      if (beforeId) query = query.where('id', '<', beforeId);
      return query.orderBy('id', 'desc').limit(limit + 1).execute();
    },

    async contributions(orgId: string, findingId: string) {
      return deps.db
        .selectFrom('findingScans')
        .select(['scanId', 'succeeded', 'trials', 'representativeAttemptIds', 'firstSeenAt', 'lastSeenAt', 'scanCreatedAt'])
        .where('orgId', '=', orgId)
        .where('findingId', '=', findingId)
        .orderBy('scanCreatedAt', 'desc')
        .limit(100)
        .execute();
    },

    /** A triage change, only if the version read is still current. */
    async triage(tx: Tx, orgId: string, id: string, expectedVersion: number, set: { status: FindingStatus; assigneeId: string | null; fixedAt: Date | null; reopened: boolean }, actorId: string | null, now: Date) {
      return tx
        .updateTable('findings')
        .set((eb) => ({
          status: set.status,
          assigneeId: set.assigneeId,
          fixedAt: set.fixedAt,
          ...(set.reopened ? { reopenedCount: eb('reopenedCount', '+', 1) } : {}),
          version: eb('version', '+', 1),
          updatedAt: now,
          updatedBy: actorId,
        }))
        .where('id', '=', id)
        .where('orgId', '=', orgId)
        .where('version', '=', expectedVersion)
        .where('deletedAt', 'is', null)
        .returning(FINDING_COLUMNS)
        .executeTakeFirst();
    },

    async insertComment(tx: Tx, values: { id: string; orgId: string; findingId: string; authorId: string | null; body: string }, now: Date) {
      const { body } = sealed.seal(values.id, { body: values.body });
      await tx.insertInto('findingComments').values({ ...values, body, createdAt: now }).execute();
      return { ...values, createdAt: now };
    },

    /** Oldest first, keyset by id. */
    async listComments(orgId: string, findingId: string, limit: number, afterId: string | undefined) {
      let query = deps.db.selectFrom('findingComments').select(['id', 'findingId', 'authorId', 'body', 'createdAt']).where('orgId', '=', orgId).where('findingId', '=', findingId);
      if (afterId) query = query.where('id', '>', afterId);
      const rows = await query.orderBy('id').limit(limit + 1).execute();
      return rows.map((row) => sealed.open(row));
    },
  };
}

export type FindingsRepo = ReturnType<typeof createFindingsRepo>;
export type FindingRow = NonNullable<Awaited<ReturnType<FindingsRepo['find']>>>;
