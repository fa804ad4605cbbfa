import { Type } from 'typebox';
import { NameString, Timestamp, Uuid } from '../../http/schemas.js';
import { PaginationQuery } from '../../http/pagination.js';
import { MAX_CHAIN_STEPS } from '../converters/converters.service.js';
import { PROBE_CATEGORIES, PROBE_ID_PATTERN } from '../probes/probe-contract.js';
import { TAXONOMY_REF_PATTERN } from '../taxonomies/taxonomy.types.js';
import { MAX_PLAN_SEED } from './scan-plan.js';

/** Inline probes per request and their size (16 Ki characters stay within a converter chain's 64 KiB input). */
export const MAX_INLINE_PROBES = 100;
export const MAX_INLINE_PROMPT_CHARS = 16_384;

const ScanStatusSchema = Type.Union(
  [
    Type.Literal('queued'),
    Type.Literal('running'),
    Type.Literal('paused'),
    Type.Literal('completed'),
    Type.Literal('cancelled'),
    Type.Literal('failed'),
    Type.Literal('partial'),
  ],
  { description: 'queued → running → (paused) → completed | cancelled | failed | partial (a budget ran out).' },
);

const ChainStep = Type.Object(
  {
    converter: Type.String({ minLength: 1, maxLength: 64, description: 'A converter id from GET /api/v1/converters.' }),
    // Each converter has its own closed schema: the service checks params against it (pointers into /converterChains/i/j/params).
    params: Type.Optional(Type.Unknown({ description: "An object matching the converter's `parameters` schema." })),
  },
  { additionalProperties: false },
);

const ScorerRef = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64, description: 'A scorer id from GET /api/v1/scorers.' }),
    params: Type.Optional(Type.Unknown({ description: "The scorer's parameters, checked against its schema from GET /api/v1/scorers." })),
  },
  { additionalProperties: false },
);

const InlineProbe = Type.Object(
  {
    name: NameString(200),
    // Attack content: any Unicode, never normalised, bounded only in size.
    prompt: Type.String({ minLength: 1, maxLength: MAX_INLINE_PROMPT_CHARS, description: 'Sent byte-exact (before converters).' }),
    category: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9-]*$' })),
    objective: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
  },
  { additionalProperties: false },
);

export const CreateScanBody = Type.Object(
  {
    name: NameString(200, 'Display name.'),
    targetId: Uuid('The target; its current version is frozen into the plan.'),
    probes: Type.Optional(
      Type.Object(
        {
          ids: Type.Optional(Type.Array(Type.String({ pattern: PROBE_ID_PATTERN }), { maxItems: 1000, uniqueItems: true, description: 'Probe ids from GET /api/v1/probes.' })),
          categories: Type.Optional(Type.Array(Type.Union(PROBE_CATEGORIES.map((category) => Type.Literal(category))), { maxItems: PROBE_CATEGORIES.length, uniqueItems: true })),
          taxonomy: Type.Optional(
            Type.Array(Type.String({ pattern: TAXONOMY_REF_PATTERN }), {
              maxItems: 50,
              uniqueItems: true,
              description: 'Taxonomy refs (GET /api/v1/taxonomies): the probes mapped to any of them; an OWASP ref of any edition matches its equivalents.',
            }),
          ),
          datasets: Type.Optional(Type.Array(Uuid(), { maxItems: 20, uniqueItems: true, description: "Dataset ids of the organisation: all their items." })),
          inline: Type.Optional(Type.Array(InlineProbe, { maxItems: MAX_INLINE_PROBES })),
        },
        {
          additionalProperties: false,
          description: 'The selection is the union of ids, categories, taxonomy refs, datasets and inline probes (at least one probe). Absent: the default probe set.',
        },
      ),
    ),
    converterChains: Type.Optional(
      Type.Array(Type.Array(ChainStep, { maxItems: MAX_CHAIN_STEPS }), {
        minItems: 1,
        maxItems: 10,
        description: "Absent: each probe is sent through its own default converters (a probe without any: unconverted).",
      }),
    ),
    scorers: Type.Optional(Type.Array(ScorerRef, { minItems: 1, maxItems: 10, description: "Absent: each probe is judged by its own default scorers (inline probes have none)." })),
    samples: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Repetitions of each probe × chain (default 1).' })),
    sampleSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Pick this many of the selected probes by a shuffle seeded with `seed`.' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_PLAN_SEED, description: 'Random seed (sampling, converters); generated when absent.' })),
    budgets: Type.Optional(
      Type.Object(
        {
          maxRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'Requests to the target, retries included.' })),
          maxWallSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 86_400, description: 'Wall time since the scan started.' })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const Coverage = Type.Object(
  {
    succeeded: Type.Integer(),
    resisted: Type.Integer(),
    errored: Type.Integer(),
    inconclusive: Type.Integer(),
    done: Type.Integer({ description: 'Cells with a stored attempt.' }),
    total: Type.Integer({ description: 'Cells in the plan.' }),
    requestsUsed: Type.Integer({ description: 'Requests sent to the target, retries included.' }),
  },
  { additionalProperties: false },
);

const NullableInt = () => Type.Union([Type.Integer(), Type.Null()]);
const NullableTime = () => Type.Union([Timestamp(), Type.Null()]);

const summaryFields = {
  id: Uuid(),
  name: Type.String(),
  status: ScanStatusSchema,
  statusReason: Type.Union([Type.String(), Type.Null()]),
  targetId: Uuid(),
  targetVersionId: Uuid('The target version frozen into the plan (later edits of the target do not apply).'),
  planHash: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the plan’s canonical JSON.' }),
  seed: Type.Integer(),
  budgets: Type.Object({ maxRequests: NullableInt(), maxWallSeconds: NullableInt() }, { additionalProperties: false }),
  coverage: Coverage,
  createdAt: Timestamp(),
  updatedAt: Timestamp(),
  startedAt: NullableTime(),
  finishedAt: NullableTime(),
  version: Type.Integer(),
};

export const ScanSummarySchema = Type.Object(summaryFields, { title: 'ScanSummary', additionalProperties: false });

export const ScanSchema = Type.Object(
  {
    ...summaryFields,
    plan: Type.Object(
      {
        probes: Type.Integer(),
        chains: Type.Integer(),
        samples: Type.Integer(),
        scorers: Type.Array(Type.String()),
        cells: Type.Integer(),
        chunks: Type.Integer(),
        chunkSize: Type.Integer(),
      },
      { additionalProperties: false, description: 'Counts only: the frozen plan itself is stored encrypted.' },
    ),
  },
  { title: 'Scan', additionalProperties: false },
);

export const ScanListQuery = Type.Object({ ...PaginationQuery, status: Type.Optional(ScanStatusSchema) }, { additionalProperties: false });
