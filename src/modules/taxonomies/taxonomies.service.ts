import { createOwaspCrosswalk } from './owasp-crosswalk.js';
import {
  DEFAULT_OWASP_EDITION,
  TAXONOMY_IDS,
  type CrosswalkLink,
  type TaxonomyId,
  type TaxonomyNode,
  type TaxonomyRef,
  type TaxonomyService,
  type TaxonomySummary,
} from './taxonomy.types.js';
import { checkTaxonomyFiles, OWASP_EDITIONS, readTaxonomyFiles, type OwaspEdition, type TaxonomyData, type TaxonomyFiles } from './taxonomy-files.js';

/**
 * The taxonomies (issue 7 §3): immutable reference data, read and checked once at start, shared by
 * the routes, the probe library (mapping checks) and findings (edition translation, filters).
 */

const OWASP_TAXONOMY: Record<OwaspEdition, TaxonomyId> = { 2026: 'owasp-llm-2026', 2025: 'owasp-llm-2025', 2023: 'owasp-llm-2023' };
const EDITION_OF = new Map<string, OwaspEdition>(OWASP_EDITIONS.map((edition) => [OWASP_TAXONOMY[edition], edition]));
const isTaxonomyId = (value: string): value is TaxonomyId => (TAXONOMY_IDS as readonly string[]).includes(value);

interface Taxonomy {
  summary: TaxonomySummary;
  nodes: readonly TaxonomyNode[];
  byId: ReadonlyMap<string, TaxonomyNode>;
}

const refOf = (taxonomyId: TaxonomyId, nodeId: string): TaxonomyRef => `${taxonomyId}:${nodeId}`;

/** Splits a reference at its first colon (node ids never contain one). */
function parseRef(ref: string): { taxonomyId: TaxonomyId; nodeId: string } | undefined {
  const colon = ref.indexOf(':');
  if (colon < 0) return undefined;
  const taxonomyId = ref.slice(0, colon);
  return isTaxonomyId(taxonomyId) ? { taxonomyId, nodeId: ref.slice(colon + 1) } : undefined;
}

function freeze(summary: Omit<TaxonomySummary, 'nodeCount'>, nodes: TaxonomyNode[]): Taxonomy {
  const frozen = Object.freeze(nodes.map((node) => Object.freeze(node)));
  return {
    summary: Object.freeze({ ...summary, nodeCount: frozen.length }),
    nodes: frozen,
    byId: new Map(frozen.map((node) => [node.id, node])),
  };
}

function buildTaxonomies(data: TaxonomyData): Map<TaxonomyId, Taxonomy> {
  const taxonomies = new Map<TaxonomyId, Taxonomy>();
  const { owasp, atlas, aiRmf } = data;
  for (const edition of OWASP_EDITIONS) {
    const id = OWASP_TAXONOMY[edition];
    const summary = { id, family: 'owasp-llm' as const, title: `OWASP Top 10 for LLM Applications ${edition}`, version: edition, isDefault: id === DEFAULT_OWASP_EDITION, source: owasp.source, licence: owasp.licence };
    const nodes = owasp.editions[edition].map((entry): TaxonomyNode => ({ id: entry.id, ref: refOf(id, entry.id), title: entry.title, kind: 'entry', baseSeverity: entry.baseSeverity }));
    taxonomies.set(id, freeze(summary, nodes));
  }
  const atlasNodes: TaxonomyNode[] = [
    ...atlas.tactics.map((tactic): TaxonomyNode => ({ id: tactic.id, ref: refOf('mitre-atlas', tactic.id), title: tactic.name, description: tactic.description, kind: 'tactic' })),
    ...atlas.techniques.map(
      (technique): TaxonomyNode => ({
        id: technique.id,
        ref: refOf('mitre-atlas', technique.id),
        title: technique.name,
        description: technique.description,
        kind: technique.parent === undefined ? 'technique' : 'sub-technique',
        ...(technique.parent === undefined ? {} : { parent: technique.parent }),
        tactics: [...technique.tactics],
      }),
    ),
  ];
  taxonomies.set('mitre-atlas', freeze({ id: 'mitre-atlas', family: 'mitre-atlas', title: 'MITRE ATLAS', version: atlas.version, isDefault: false, source: atlas.source, licence: atlas.licence }, atlasNodes));
  const rmfNodes = aiRmf.subcategories.map(
    // The id's own prefix (GOVERN, MAP, ...) names the function, so the parent reads like the ids do.
    (subcategory): TaxonomyNode => ({ id: subcategory.id, ref: refOf('nist-ai-rmf', subcategory.id), title: subcategory.id, description: subcategory.description, kind: 'subcategory', parent: subcategory.function.toUpperCase() }),
  );
  taxonomies.set('nist-ai-rmf', freeze({ id: 'nist-ai-rmf', family: 'nist-ai-rmf', title: 'NIST AI Risk Management Framework subcategories', version: aiRmf.version, isDefault: false, source: aiRmf.source, licence: aiRmf.licence }, rmfNodes));
  return taxonomies;
}

/** Builds the service from parsed files; throws when any file is malformed. */
export function createTaxonomyService(files: TaxonomyFiles): TaxonomyService {
  const data = checkTaxonomyFiles(files);
  const taxonomies = buildTaxonomies(data);
  const crosswalk = createOwaspCrosswalk(data.owasp);
  const summaries = Object.freeze(TAXONOMY_IDS.map((id) => taxonomies.get(id)!.summary));

  const node = (ref: TaxonomyRef): TaxonomyNode | undefined => {
    const parsed = parseRef(ref);
    return parsed ? taxonomies.get(parsed.taxonomyId)?.byId.get(parsed.nodeId) : undefined;
  };

  const translate = (ref: TaxonomyRef, toTaxonomyId: TaxonomyId): CrosswalkLink[] => {
    const found = node(ref);
    const parsed = parseRef(ref);
    if (!found || !parsed) return [];
    if (parsed.taxonomyId === toTaxonomyId) return [{ ref, relation: 'same' }];
    const from = EDITION_OF.get(parsed.taxonomyId);
    const to = EDITION_OF.get(toTaxonomyId);
    if (!from || !to) return [];
    return crosswalk.translate(from, found.id, to).map((link) => ({ ref: refOf(toTaxonomyId, link.id), relation: link.relation }));
  };

  const equivalents = (ref: TaxonomyRef): TaxonomyRef[] => {
    const parsed = parseRef(ref);
    if (!parsed || !node(ref)) return [];
    if (!EDITION_OF.has(parsed.taxonomyId)) return [ref];
    const refs = new Set<TaxonomyRef>([ref]);
    for (const edition of OWASP_EDITIONS) for (const link of translate(ref, OWASP_TAXONOMY[edition])) refs.add(link.ref);
    return [...refs];
  };

  // Filters on an ATLAS tactic or technique also match what sits under it: the techniques serving a
  // tactic, and a technique's sub-techniques (probes are often mapped to the sub-technique).
  const below = new Map<TaxonomyRef, TaxonomyRef[]>();
  const addBelow = (parent: TaxonomyRef, child: TaxonomyRef) => below.set(parent, [...(below.get(parent) ?? []), child]);
  for (const technique of taxonomies.get('mitre-atlas')?.nodes ?? []) {
    if (technique.parent !== undefined) addBelow(refOf('mitre-atlas', technique.parent), technique.ref);
    for (const tactic of technique.tactics ?? []) addBelow(refOf('mitre-atlas', tactic), technique.ref);
  }
  const matching = (ref: TaxonomyRef): TaxonomyRef[] => {
    const refs = new Set(equivalents(ref));
    for (const found of [...refs]) for (const child of below.get(found) ?? []) for (const grandchild of [child, ...(below.get(child) ?? [])]) refs.add(grandchild);
    return [...refs];
  };

  return {
    list: () => summaries,
    summary: (taxonomyId) => (isTaxonomyId(taxonomyId) ? taxonomies.get(taxonomyId)?.summary : undefined),
    nodes: (taxonomyId) => (isTaxonomyId(taxonomyId) ? taxonomies.get(taxonomyId)?.nodes : undefined),
    node,
    isValidRef: (ref) => node(ref) !== undefined,
    translate,
    equivalents,
    matching,
  };
}

/** The shipped taxonomies (data/taxonomies/); malformed data throws, which stops the start. */
export function loadTaxonomyService(): TaxonomyService {
  return createTaxonomyService(readTaxonomyFiles());
}
