import { Type } from 'typebox';
import { AttackText } from '../../http/schemas.js';
import { Canaries } from './leak.scorer.js';
import { SCORER_IDS } from './scorer.registry.js';
import { MAX_EVIDENCE_SPANS, SCAN_LIMIT_CHARS, VERDICTS } from './scorer.types.js';

/** Prompts a preview may carry (the judge shows it to the judging target). */
export const MAX_PREVIEW_PROMPT_CHARS = 65_536;

const ScorerRef = Type.Object(
  {
    id: Type.Union(
      SCORER_IDS.map((id) => Type.Literal(id)),
      { description: 'A scorer id from GET /scorers.' },
    ),
    params: Type.Optional(
      Type.Unknown({ description: "The scorer's parameters: validated against its `parameters` schema from GET /scorers (unknown fields are refused)." }),
    ),
  },
  { additionalProperties: false },
);

export const ScoreContextSchema = Type.Object(
  {
    canaries: Type.Optional(Canaries()),
    objective: Type.Optional(Type.String({ minLength: 1, maxLength: 2_000, description: 'What the attack tried to achieve (used by the LLM judge).' })),
  },
  { additionalProperties: false },
);

export const PreviewBody = Type.Object(
  {
    scorer: ScorerRef,
    prompt: Type.Optional(AttackText(MAX_PREVIEW_PROMPT_CHARS, 'The attack prompt (context for the LLM judge).')),
    response: AttackText(SCAN_LIMIT_CHARS, 'The response to score, byte-exact.'),
    context: Type.Optional(ScoreContextSchema),
  },
  { additionalProperties: false },
);

const Evidence = Type.Object(
  {
    start: Type.Integer({ minimum: 0, description: 'UTF-16 offset into the response (inclusive).' }),
    end: Type.Integer({ minimum: 0, description: 'UTF-16 offset into the response (exclusive).' }),
    label: Type.String(),
  },
  { additionalProperties: false },
);

export const ScoreResultSchema = Type.Object(
  {
    scorerId: Type.String(),
    verdict: Type.Union(
      VERDICTS.map((verdict) => Type.Literal(verdict)),
      { description: '`succeeded`: the attack worked. `errored` and `inconclusive` never count as safe.' },
    ),
    countsAsSafe: Type.Boolean({ description: 'True only for `resisted`.' }),
    rationale: Type.String({ description: 'Why; never repeats a secret or canary in full.' }),
    evidence: Type.Optional(Type.Array(Evidence, { maxItems: MAX_EVIDENCE_SPANS })),
  },
  { title: 'ScoreResult', additionalProperties: false },
);

export const ScorerListSchema = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          name: Type.String(),
          description: Type.String(),
          paramsRequired: Type.Boolean(),
          parameters: Type.Unknown({ description: 'JSON Schema of `scorer.params`.' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { title: 'ScorerList', additionalProperties: false },
);
