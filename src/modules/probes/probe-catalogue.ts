import { readFileSync } from 'node:fs';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

/**
 * The built-in probe starter set (issue 6) until the probe library (issue 7) ships: a small set we
 * wrote ourselves, read once from data/probes/starter.json and checked against this schema, so a
 * broken data file stops the start instead of freezing a malformed probe into a plan.
 */

export const PROBE_CATEGORIES = ['prompt-injection', 'system-prompt-leakage', 'jailbreak', 'pii', 'insecure-output'] as const;
export type ProbeCategory = (typeof PROBE_CATEGORIES)[number];

/** Probe ids: lower-case dotted words, safe in logs, URLs and plan JSON. */
export const PROBE_ID_PATTERN = '^[a-z0-9][a-z0-9.-]{0,99}$';

const ProbeRecord = Type.Object(
  {
    id: Type.String({ pattern: PROBE_ID_PATTERN }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    category: Type.Union(PROBE_CATEGORIES.map((category) => Type.Literal(category))),
    prompt: Type.String({ minLength: 1, maxLength: 16_384 }),
    objective: Type.String({ minLength: 1, maxLength: 1000 }),
  },
  { additionalProperties: false },
);

const ProbeFile = Type.Object(
  {
    formatVersion: Type.Literal(1),
    source: Type.String(),
    probes: Type.Array(ProbeRecord, { minItems: 1, maxItems: 10_000 }),
  },
  { additionalProperties: false },
);

export type Probe = Static<typeof ProbeRecord>;

export interface ProbeCatalogue {
  /** Every probe, in file order (the order plans freeze them in). */
  all(): readonly Probe[];
  byId(id: string): Probe | undefined;
}

/** Builds a catalogue from already-parsed content; refuses malformed entries and duplicate ids. */
export function createProbeCatalogue(content: unknown): ProbeCatalogue {
  if (!Value.Check(ProbeFile, content)) {
    const first = [...Value.Errors(ProbeFile, content)].slice(0, 5).map((error) => `${error.instancePath || '/'}: ${error.message}`);
    throw new Error(`The probe starter set is malformed: ${first.join('; ')}`);
  }
  const byId = new Map<string, Probe>();
  for (const probe of content.probes) {
    if (byId.has(probe.id)) throw new Error(`The probe starter set defines "${probe.id}" twice.`);
    byId.set(probe.id, Object.freeze({ ...probe }));
  }
  const all = Object.freeze([...byId.values()]);
  return { all: () => all, byId: (id) => byId.get(id) };
}

const STARTER_FILE = new URL('../../../data/probes/starter.json', import.meta.url);

/** The shipped starter set (same relative path from src/ under tsx and from dist/ under node). */
export function loadStarterCatalogue(): ProbeCatalogue {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- a fixed file shipped with the product
  return createProbeCatalogue(JSON.parse(readFileSync(STARTER_FILE, 'utf8')) as unknown);
}
