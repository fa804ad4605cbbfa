import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import type { Db } from '../../platform/db/database.js';
import { errors, type FieldError } from '../../platform/errors.js';
import type { ConverterService } from '../converters/converters.service.js';
import type { PlanProbe } from '../scans/scan-contract.js';
import type { ScorerService } from '../scorers/scorers.service.js';
import type { TaxonomyService } from '../taxonomies/taxonomy.types.js';
import type { DatasetProbeSource, ProbeSelection } from './probe-contract.js';
import { seedShippedLibrary } from './probe-seed.js';
import type { LibraryProbeRow, ProbesRepo } from './probes.repo.js';

/**
 * The built-in probe library as the API and scans see it: the current seeded version listed and read,
 * and a scan's selection (ids, categories, taxonomy refs in any OWASP edition, datasets, inline probes,
 * or nothing: the default set) resolved into plan probes frozen with their own scorers and chain.
 */

export interface ProbeListQuery extends PaginationParams {
  category?: string;
  taxonomy?: string;
  family?: string;
  tag?: string;
  isDefault?: boolean;
}

export const toProbeView = (row: LibraryProbeRow) => ({
  id: row.id,
  name: row.name,
  category: row.category,
  family: row.family,
  goal: row.goal,
  prompt: row.prompt,
  taxonomy: row.taxonomy,
  complexity: row.complexity,
  impact: row.impact,
  tags: row.tags,
  defaultScorers: row.defaultScorers,
  defaultConverters: row.defaultConverters,
  version: row.version,
  isDefault: row.isDefault,
});

/** A library probe as frozen into a plan: its content copied, its library steps in the converters' shape. */
export const freezeLibraryProbe = (row: LibraryProbeRow): PlanProbe => ({
  id: row.id,
  name: row.name,
  category: row.category,
  prompt: row.prompt,
  objective: row.goal,
  source: { kind: 'library', version: row.version },
  family: row.family,
  taxonomy: [...row.taxonomy],
  complexity: row.complexity,
  scorers: row.defaultScorers.map((scorer) => ({ id: scorer.id, ...(scorer.params === undefined ? {} : { params: scorer.params }) })),
  converters: row.defaultConverters.map((step) => ({ converter: step.id, ...(step.params === undefined ? {} : { params: step.params }) })),
});

export function createProbesService(deps: {
  db: Db;
  repo: ProbesRepo;
  taxonomies: Pick<TaxonomyService, 'isValidRef' | 'matching'>;
  /** For checking the library before it is seeded. */
  scorers: Pick<ScorerService, 'validate'>;
  converters: Pick<ConverterService, 'apply'>;
  /** Dataset items as plan probes (datasets module); without it a selection naming datasets is refused. */
  datasets?: DatasetProbeSource;
  now?: () => Date;
}) {
  const { repo } = deps;
  /** A ref, every OWASP edition's name for the same entry and the ATLAS nodes under it: a 2025 ref finds probes mapped in 2026. */
  const expand = (refs: readonly string[]) => [...new Set(refs.flatMap((ref) => [ref, ...deps.taxonomies.matching(ref)]))];

  async function resolveDatasets(orgId: string, ids: readonly string[], problems: FieldError[]): Promise<PlanProbe[]> {
    if (ids.length === 0) return [];
    if (!deps.datasets) {
      ids.forEach((_, index) => problems.push({ in: 'body', pointer: `/probes/datasets/${index}`, detail: 'is not a dataset of this organisation' }));
      return [];
    }
    const { probes, missing } = await deps.datasets.probesOf(orgId, ids);
    const unknown = new Set(missing);
    ids.forEach((id, index) => unknown.has(id) && problems.push({ in: 'body', pointer: `/probes/datasets/${index}`, detail: 'is not a dataset of this organisation (see GET /api/v1/datasets)' }));
    return probes;
  }

  return {
    /** Checks the shipped library and seeds its version once (at start, after the migrations). */
    seedShipped: (options: { dir?: URL } = {}) =>
      seedShippedLibrary(deps.db, { taxonomies: deps.taxonomies, scorers: deps.scorers, converters: deps.converters }, { ...options, ...(deps.now ? { now: deps.now } : {}) }),

    async list(query: ProbeListQuery) {
      const cursor = decodeCursor(query.cursor, 2);
      // A cursor keeps its version: paging stays consistent while a newer library is seeded.
      const version = typeof cursor?.[0] === 'string' ? cursor[0] : await repo.currentVersion();
      if (!version) return { items: [], nextCursor: null };
      if (query.taxonomy !== undefined && !deps.taxonomies.isValidRef(query.taxonomy)) {
        throw errors.validation([{ in: 'querystring', pointer: '/taxonomy', detail: 'is not a node of the shipped taxonomies (see GET /api/v1/taxonomies)' }]);
      }
      const rows = await repo.list(
        version,
        {
          ...(query.category !== undefined ? { category: query.category } : {}),
          ...(query.family !== undefined ? { family: query.family } : {}),
          ...(query.tag !== undefined ? { tag: query.tag } : {}),
          ...(query.isDefault !== undefined ? { isDefault: query.isDefault } : {}),
          ...(query.taxonomy !== undefined ? { taxonomy: expand([query.taxonomy]) } : {}),
        },
        query.limit + 1,
        typeof cursor?.[1] === 'number' ? cursor[1] : undefined,
      );
      return toPage(rows, query.limit, (row) => [row.version, row.position], toProbeView);
    },

    async get(id: string) {
      const version = await repo.currentVersion();
      const row = version ? await repo.get(version, id) : undefined;
      if (!row) throw errors.notFound('probe');
      return toProbeView(row);
    },

    /**
     * A scan's probes, in a fixed order: the requested ids (request order), then the categories', the
     * taxonomy refs' and the default set's probes (library order), then dataset items, then inline
     * probes; each once. No selection at all runs the default set. Throws one 422 with every problem.
     */
    async select(orgId: string, selection: ProbeSelection | undefined): Promise<PlanProbe[]> {
      const problems: FieldError[] = [];
      const ids = selection?.ids ?? [];
      const categories = new Set(selection?.categories ?? []);
      const refs = selection?.taxonomy ?? [];
      refs.forEach((ref, index) => {
        if (!deps.taxonomies.isValidRef(ref)) problems.push({ in: 'body', pointer: `/probes/taxonomy/${index}`, detail: 'is not a node of the shipped taxonomies (see GET /api/v1/taxonomies)' });
      });
      const taxonomy = new Set(expand(refs.filter((ref) => deps.taxonomies.isValidRef(ref))));
      const version = await repo.currentVersion();
      const rows = version ? await repo.matching(version, { ids, categories: [...categories], taxonomy: [...taxonomy], defaults: selection === undefined }) : [];

      const chosen = new Map<string, PlanProbe>();
      const add = (probe: PlanProbe) => void (chosen.has(probe.id) || chosen.set(probe.id, probe));
      const byId = new Map(rows.map((row) => [row.id, row]));
      ids.forEach((id, index) => {
        const row = byId.get(id);
        if (row) add(freezeLibraryProbe(row));
        else problems.push({ in: 'body', pointer: `/probes/ids/${index}`, detail: 'is not a known probe (see GET /api/v1/probes)' });
      });
      for (const row of rows) if (categories.has(row.category)) add(freezeLibraryProbe(row));
      for (const row of rows) if (row.taxonomy.some((ref) => taxonomy.has(ref))) add(freezeLibraryProbe(row));
      if (selection === undefined) for (const row of rows) if (row.isDefault) add(freezeLibraryProbe(row));
      for (const probe of await resolveDatasets(orgId, selection?.datasets ?? [], problems)) add(probe);
      (selection?.inline ?? []).forEach((probe, index) =>
        add({
          id: `inline.${index}`,
          name: probe.name,
          category: probe.category ?? 'custom',
          prompt: probe.prompt,
          ...(probe.objective ? { objective: probe.objective } : {}),
          source: { kind: 'inline' },
        }),
      );
      if (problems.length === 0 && chosen.size === 0) problems.push({ in: 'body', pointer: '/probes', detail: 'selects no probe' });
      if (problems.length > 0) throw errors.validation(problems.slice(0, 100));
      return [...chosen.values()];
    },
  };
}

export type ProbesService = ReturnType<typeof createProbesService>;
