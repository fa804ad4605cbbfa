import { Type, type Static } from 'typebox';
import type { PlanProbe } from '../scans/scan-contract.js';
import { TAXONOMY_REF_PATTERN } from '../taxonomies/taxonomy.types.js';

/**
 * The probe contract (issue 7 §1-2): the record of the built-in probe library shipped under
 * data/probes/library/ (format 2), and what a scan's probe selection can ask for. Built-in probes are
 * seeded into the database, versioned; dataset items (datasets module) become plan probes through
 * `DatasetProbeSource`, so one selection covers both.
 */

export const PROBE_CATEGORIES = [
  'prompt-injection',
  'indirect-prompt-injection',
  'jailbreak',
  'system-prompt-leakage',
  'sensitive-information',
  'harmful-content',
  'insecure-output',
  'excessive-agency',
  'misinformation',
] as const;
export type ProbeCategory = (typeof PROBE_CATEGORIES)[number];

/** Probe ids: lower-case dotted words, safe in logs, URLs and plan JSON. */
export const PROBE_ID_PATTERN = '^[a-z0-9][a-z0-9.-]{0,99}$';

/** How hard the attack is to pull off; the third factor of the findings severity policy. */
export const EXPLOIT_COMPLEXITIES = ['low', 'medium', 'high'] as const;
export type ExploitComplexity = (typeof EXPLOIT_COMPLEXITIES)[number];

const ScorerConfigSchema = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }), params: Type.Optional(Type.Unknown()) },
  { additionalProperties: false },
);
const ChainStepSchema = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }), params: Type.Optional(Type.Unknown()) },
  { additionalProperties: false },
);

// Type.Unsafe keeps the literal unions' schema while giving Static the string-literal type (a mapped union alone infers never).
/** One library probe (data/probes/library/*.json, `probes[]`). */
export const LibraryProbe = Type.Object(
  {
    id: Type.String({ pattern: PROBE_ID_PATTERN }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    category: Type.Unsafe<ProbeCategory>(Type.Union(PROBE_CATEGORIES.map((category) => Type.Literal(category)))),
    /** Findings deduplicate per family: variants of one attack share it. */
    family: Type.String({ pattern: PROBE_ID_PATTERN }),
    /** What a successful attack achieves (the judge's rubric; the finding's normalised objective). */
    goal: Type.String({ minLength: 1, maxLength: 1000 }),
    /** The attack text sent to the target before converters. */
    prompt: Type.String({ minLength: 1, maxLength: 16_384 }),
    defaultConverters: Type.Array(ChainStepSchema, { maxItems: 8 }),
    defaultScorers: Type.Array(ScorerConfigSchema, { minItems: 1, maxItems: 5 }),
    /** At least one OWASP LLM 2026 ref; ATLAS and AI RMF refs where they apply. */
    taxonomy: Type.Array(Type.String({ pattern: TAXONOMY_REF_PATTERN }), { minItems: 1, maxItems: 12, uniqueItems: true }),
    severityBasis: Type.Object(
      {
        complexity: Type.Unsafe<ExploitComplexity>(Type.Union(EXPLOIT_COMPLEXITIES.map((value) => Type.Literal(value)))),
        /** Why this probe matters when it succeeds (shown with the finding). */
        impact: Type.String({ minLength: 1, maxLength: 500 }),
      },
      { additionalProperties: false },
    ),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { maxItems: 10 })),
  },
  { additionalProperties: false },
);
export type LibraryProbe = Static<typeof LibraryProbe>;

/** One library file: data/probes/library/<category>.json. */
export const LibraryFile = Type.Object(
  {
    formatVersion: Type.Literal(2),
    /** The library's version; bump when any probe changes (seeded rows are versioned by it). */
    libraryVersion: Type.String({ pattern: '^[0-9]{4}\\.[0-9]{1,2}\\.[0-9]{1,3}$' }),
    source: Type.String({ minLength: 1, maxLength: 500 }),
    licence: Type.String({ minLength: 1, maxLength: 200 }),
    probes: Type.Array(LibraryProbe, { minItems: 1, maxItems: 1000 }),
  },
  { additionalProperties: false },
);
export type LibraryFile = Static<typeof LibraryFile>;

/** What a scan asks for; the selection is the union of every part (ids, categories, taxonomy, datasets, inline). */
export interface ProbeSelection {
  ids?: string[];
  categories?: string[];
  /** Taxonomy refs in any OWASP edition (translated), ATLAS or AI RMF: probes mapped to any of them. */
  taxonomy?: string[];
  /** Dataset ids of the caller's organisation: all their items. */
  datasets?: string[];
  inline?: Array<{ name: string; prompt: string; category?: string; objective?: string }>;
}

/** Dataset items as plan probes (implemented by the datasets module). */
export interface DatasetProbeSource {
  /** Every item of the organisation's datasets, as plan probes; unknown or foreign ids are returned in `missing`. */
  probesOf(orgId: string, datasetIds: readonly string[]): Promise<{ probes: PlanProbe[]; missing: string[] }>;
}
