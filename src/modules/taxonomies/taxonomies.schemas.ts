import { Type } from 'typebox';
import { TAXONOMY_IDS } from './taxonomy.types.js';

/** Node kinds across the taxonomies (OWASP entries, ATLAS tactics/techniques, AI RMF subcategories). */
export const NODE_KINDS = ['entry', 'tactic', 'technique', 'sub-technique', 'subcategory'] as const;

export const TaxonomySummarySchema = Type.Object(
  {
    id: Type.Enum(TAXONOMY_IDS),
    family: Type.Enum(['owasp-llm', 'mitre-atlas', 'nist-ai-rmf']),
    title: Type.String(),
    version: Type.String({ description: "The source's own version or edition (2026, 5.6.0, 1.0)." }),
    isDefault: Type.Boolean({ description: 'The OWASP edition findings are shown in unless another is asked for.' }),
    nodeCount: Type.Integer(),
    source: Type.String(),
    licence: Type.String(),
  },
  { title: 'TaxonomySummary', additionalProperties: false },
);

export const TaxonomyNodeSchema = Type.Object(
  {
    id: Type.String({ description: 'The id within its taxonomy (LLM08, AML.T0051.000, MEASURE 2.7).' }),
    ref: Type.String({ description: '`<taxonomyId>:<id>`, as probes and findings store it.' }),
    title: Type.String(),
    description: Type.Optional(Type.String()),
    kind: Type.Enum(NODE_KINDS),
    parent: Type.Optional(Type.String({ description: 'ATLAS: the technique of a sub-technique; AI RMF: the function.' })),
    tactics: Type.Optional(Type.Array(Type.String(), { description: 'ATLAS: the tactics a technique serves.' })),
    baseSeverity: Type.Optional(Type.Number({ description: 'OWASP: our base severity (0-10), the first factor of the findings severity policy.' })),
  },
  { title: 'TaxonomyNode', additionalProperties: false },
);

export const TaxonomyListSchema = Type.Object({ items: Type.Array(TaxonomySummarySchema) }, { additionalProperties: false });

export const TaxonomyDetailSchema = Type.Object(
  { ...TaxonomySummarySchema.properties, nodes: Type.Array(TaxonomyNodeSchema) },
  { title: 'Taxonomy', additionalProperties: false },
);

const EquivalentSchema = Type.Object(
  {
    ref: Type.String(),
    taxonomyId: Type.String(),
    title: Type.String(),
    relation: Type.String({ description: 'How the entry moved between the editions (same, renamed, broadened, partial, ...).' }),
  },
  { additionalProperties: false },
);

export const TaxonomyNodeDetailSchema = Type.Object(
  {
    ...TaxonomyNodeSchema.properties,
    taxonomyId: Type.String(),
    equivalents: Type.Array(EquivalentSchema, { description: 'OWASP: the entries that carry this one in the other editions; empty elsewhere.' }),
  },
  { title: 'TaxonomyNodeDetail', additionalProperties: false },
);

// Unknown ids answer 404, so the path parameters are bounded but not enumerated (an enum would answer 422).
export const TaxonomyParams = Type.Object({ taxonomyId: Type.String({ minLength: 1, maxLength: 40 }) }, { additionalProperties: false });
export const TaxonomyNodeParams = Type.Object(
  { taxonomyId: Type.String({ minLength: 1, maxLength: 40 }), nodeId: Type.String({ minLength: 1, maxLength: 100, description: 'URL-encoded (`MEASURE%202.7`).' }) },
  { additionalProperties: false },
);
export const TaxonomyQuery = Type.Object({ kind: Type.Optional(Type.Enum(NODE_KINDS)) }, { additionalProperties: false });
