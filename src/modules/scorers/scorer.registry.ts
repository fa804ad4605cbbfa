import { judgeScorer } from './judge.js';
import { jsonSchemaScorer } from './json-schema.scorer.js';
import { leakScorer } from './leak.scorer.js';
import { markupScorer } from './markup.scorer.js';
import { regexScorer, substringScorer } from './match.scorers.js';
import { piiScorer } from './pii.scorer.js';
import { refusalScorer } from './refusal.scorer.js';
import type { ScorerDefinition } from './scorer.types.js';

/** Every scorer, in the order GET /scorers lists them. */
export const SCORERS: readonly ScorerDefinition[] = [substringScorer, regexScorer, refusalScorer, leakScorer, piiScorer, markupScorer, jsonSchemaScorer, judgeScorer];

export const SCORER_IDS = SCORERS.map((scorer) => scorer.id);

export const scorerById = (id: string): ScorerDefinition | undefined => SCORERS.find((scorer) => scorer.id === id);
