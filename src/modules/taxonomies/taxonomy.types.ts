/**
 * The taxonomy contract (issue 7 §3): versioned classification data shipped under data/taxonomies/.
 * A node is named everywhere by a reference `<taxonomyId>:<nodeId>`, for example
 * `owasp-llm-2026:LLM08`, `owasp-llm-2025:LLM07`, `mitre-atlas:AML.T0051.000`, `nist-ai-rmf:MEASURE 2.7`.
 * Probes, dataset items and findings store references; any edition of the OWASP list is a translation
 * through the crosswalks, so a finding is shown in any edition without re-running its scan.
 */

/** The taxonomies the product ships; `owasp-llm-2026` is the default edition. */
export const TAXONOMY_IDS = ['owasp-llm-2026', 'owasp-llm-2025', 'owasp-llm-2023', 'mitre-atlas', 'nist-ai-rmf'] as const;
export type TaxonomyId = (typeof TAXONOMY_IDS)[number];
export const DEFAULT_OWASP_EDITION: TaxonomyId = 'owasp-llm-2026';

/** `<taxonomyId>:<nodeId>`; node ids may contain dots and spaces (ATLAS, AI RMF) but never a colon. */
export type TaxonomyRef = string;
export const TAXONOMY_REF_PATTERN = '^(owasp-llm-2026|owasp-llm-2025|owasp-llm-2023|mitre-atlas|nist-ai-rmf):[A-Za-z0-9. _-]{1,40}$';

export interface TaxonomyNode {
  /** The node's own id within its taxonomy (LLM08, AML.T0051, MEASURE 2.7). */
  id: string;
  ref: TaxonomyRef;
  title: string;
  /** A short description where the source has one (plain text, bounded). */
  description?: string;
  /** ATLAS: 'tactic' | 'technique' | 'sub-technique'; AI RMF: 'subcategory'; OWASP: 'entry'. */
  kind: string;
  /** Parent node id (ATLAS sub-technique → technique; AI RMF subcategory → function). */
  parent?: string;
  /** ATLAS techniques: the tactics they serve. */
  tactics?: string[];
  /** OWASP entries: our documented base severity (0-10), the first factor of the findings severity policy. */
  baseSeverity?: number;
}

export interface TaxonomySummary {
  id: TaxonomyId;
  family: 'owasp-llm' | 'mitre-atlas' | 'nist-ai-rmf';
  title: string;
  /** The source's own version or edition (2026, 5.6.0, 1.0). */
  version: string;
  isDefault: boolean;
  nodeCount: number;
  source: string;
  licence: string;
}

/** How a node moved between editions (from editions.json): same, renamed, broadened, partial, ... */
export interface CrosswalkLink {
  ref: TaxonomyRef;
  relation: string;
}

export interface TaxonomyService {
  list(): readonly TaxonomySummary[];
  summary(taxonomyId: string): TaxonomySummary | undefined;
  nodes(taxonomyId: string): readonly TaxonomyNode[] | undefined;
  node(ref: TaxonomyRef): TaxonomyNode | undefined;
  isValidRef(ref: string): boolean;
  /**
   * The equivalents of `ref` in another OWASP edition (following the crosswalks through 2025 when
   * going 2023 ↔ 2026); the ref itself when it is already in that edition; [] when it has none.
   */
  translate(ref: TaxonomyRef, toTaxonomyId: TaxonomyId): CrosswalkLink[];
  /** Every ref that denotes the same OWASP entry in any edition (itself included). */
  equivalents(ref: TaxonomyRef): TaxonomyRef[];
  /**
   * Every ref a filter on `ref` matches: its OWASP equivalents in every edition, or for ATLAS the node and
   * what sits under it (a tactic's techniques, a technique's sub-techniques); [] for an unknown ref.
   */
  matching(ref: TaxonomyRef): TaxonomyRef[];
}
