import { sql, type Expression, type SqlBool } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { LibraryEntry } from './probe-library.js';

/** Seeded library probes and versions: SQL only (the rules are in probes.service.ts and probe-seed.ts). */

const PROBE_COLUMNS = [
  'id',
  'version',
  'position',
  'name',
  'category',
  'family',
  'goal',
  'prompt',
  'defaultConverters',
  'defaultScorers',
  'taxonomy',
  'complexity',
  'impact',
  'tags',
  'isDefault',
] as const;

export interface LibraryProbeRow {
  id: string;
  version: string;
  position: number;
  name: string;
  category: string;
  family: string;
  goal: string;
  prompt: string;
  defaultConverters: Array<{ id: string; params?: unknown }>;
  defaultScorers: Array<{ id: string; params?: unknown }>;
  taxonomy: string[];
  complexity: 'low' | 'medium' | 'high';
  impact: string;
  tags: string[];
  isDefault: boolean;
}

export interface ProbeFilters {
  category?: string;
  /** Any of these refs (the caller expands editions). */
  taxonomy?: readonly string[];
  family?: string;
  tag?: string;
  isDefault?: boolean;
}

/** Every seed, in every process, serialises on this transaction-scoped advisory lock ("probe-library"). */
const SEED_LOCK_KEY = 0x70726f62;
/** DESIGN §5: batch work commits in bounded batches; one multi-row INSERT per this many probes. */
const INSERT_BATCH = 200;

/** `jsonb ?| text[]` built from one parameter per ref (no driver-specific array encoding). */
const anyOf = (refs: readonly string[]) => sql`array[${sql.join(refs.map((ref) => sql`${ref}`))}]::text[]`;

export function createProbesRepo(deps: { db: Db }) {
  const { db } = deps;
  const probes = (executor: Db | Tx, version: string) => executor.selectFrom('probeLibrary').select(PROBE_COLUMNS).where('version', '=', version);
  const rows = (result: unknown) => result as LibraryProbeRow[];

  return {
    async lockSeed(tx: Tx): Promise<void> {
      await sql`select pg_advisory_xact_lock(${SEED_LOCK_KEY})`.execute(tx);
    },

    findVersion: (executor: Db | Tx, version: string) =>
      executor.selectFrom('probeLibraryVersions').select(['version', 'contentHash', 'probeCount', 'isCurrent']).where('version', '=', version).executeTakeFirst(),

    listVersions: (executor: Db | Tx) => executor.selectFrom('probeLibraryVersions').select(['version', 'isCurrent']).execute(),

    async insertVersion(tx: Tx, values: { version: string; contentHash: string; probeCount: number }, now: Date): Promise<boolean> {
      const inserted = await tx
        .insertInto('probeLibraryVersions')
        .values({ ...values, seededAt: now, isCurrent: false })
        .onConflict((conflict) => conflict.column('version').doNothing())
        .returning('version')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    async insertProbes(tx: Tx, version: string, entries: readonly LibraryEntry[], now: Date): Promise<void> {
      for (let start = 0; start < entries.length; start += INSERT_BATCH) {
        const batch = entries.slice(start, start + INSERT_BATCH).map((probe) => ({
          id: probe.id,
          version,
          position: probe.position,
          contentHash: probe.contentHash,
          name: probe.name,
          category: probe.category,
          family: probe.family,
          goal: probe.goal,
          prompt: probe.prompt,
          defaultConverters: JSON.stringify(probe.defaultConverters),
          defaultScorers: JSON.stringify(probe.defaultScorers),
          taxonomy: JSON.stringify(probe.taxonomy),
          complexity: probe.severityBasis.complexity,
          impact: probe.severityBasis.impact,
          tags: JSON.stringify(probe.tags ?? []),
          isDefault: probe.isDefault,
          createdAt: now,
        }));
        await tx.insertInto('probeLibrary').values(batch).execute();
      }
    },

    /** Two statements: a unique partial index allows one current row at every step. */
    async setCurrent(tx: Tx, version: string): Promise<void> {
      await tx.updateTable('probeLibraryVersions').set({ isCurrent: false }).where('isCurrent', '=', true).where('version', '<>', version).execute();
      await tx.updateTable('probeLibraryVersions').set({ isCurrent: true }).where('version', '=', version).execute();
    },

    async currentVersion(): Promise<string | undefined> {
      const row = await db.selectFrom('probeLibraryVersions').select('version').where('isCurrent', '=', true).executeTakeFirst();
      return row?.version;
    },

    /** One page in library order, after `afterPosition`. */
    async list(version: string, filters: ProbeFilters, limit: number, afterPosition?: number): Promise<LibraryProbeRow[]> {
      let query = probes(db, version);
      if (filters.category !== undefined) query = query.where('category', '=', filters.category);
      if (filters.family !== undefined) query = query.where('family', '=', filters.family);
      if (filters.isDefault !== undefined) query = query.where('isDefault', '=', filters.isDefault);
      if (filters.tag !== undefined) query = query.where(sql<SqlBool>`tags ? ${filters.tag}`);
      if (filters.taxonomy !== undefined) query = query.where(sql<SqlBool>`taxonomy ?| ${anyOf(filters.taxonomy)}`);
      if (afterPosition !== undefined) query = query.where('position', '>', afterPosition);
      return rows(await query.orderBy('position').limit(limit).execute());
    },

    async get(version: string, id: string): Promise<LibraryProbeRow | undefined> {
      return rows(await probes(db, version).where('id', '=', id).execute())[0];
    },

    /** The probes matching any part of a selection, in library order (at most the whole library). */
    async matching(version: string, where: { ids: readonly string[]; categories: readonly string[]; taxonomy: readonly string[]; defaults: boolean }): Promise<LibraryProbeRow[]> {
      const query = probes(db, version).where((eb) => {
        const parts: Array<Expression<SqlBool>> = [];
        if (where.ids.length > 0) parts.push(eb('id', 'in', [...where.ids]));
        if (where.categories.length > 0) parts.push(eb('category', 'in', [...where.categories]));
        if (where.taxonomy.length > 0) parts.push(sql<SqlBool>`taxonomy ?| ${anyOf(where.taxonomy)}`);
        if (where.defaults) parts.push(eb('isDefault', '=', true));
        return parts.length > 0 ? eb.or(parts) : sql<SqlBool>`false`;
      });
      return rows(await query.orderBy('position').execute());
    },
  };
}

export type ProbesRepo = ReturnType<typeof createProbesRepo>;
