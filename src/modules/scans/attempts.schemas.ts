import { Type } from 'typebox';
import { PaginationQuery } from '../../http/pagination.js';
import { Timestamp, Uuid } from '../../http/schemas.js';

const Verdict = () => Type.Union([Type.Literal('succeeded'), Type.Literal('resisted'), Type.Literal('errored'), Type.Literal('inconclusive')]);
const Sha256Hex = (description: string) => Type.String({ pattern: '^[0-9a-f]{64}$', description });

export const AttemptsListQuery = Type.Object(
  { ...PaginationQuery, verdict: Type.Optional(Verdict()) },
  { additionalProperties: false },
);

export const AttemptParams = Type.Object({ id: Uuid('The scan.'), attemptId: Uuid('The attempt.') }, { additionalProperties: false });

/** Sizes and hashes of a stored body: enough to compare and deduplicate without reading it. */
const BodyFacts = Type.Object(
  {
    sha256: Sha256Hex('SHA-256 of the FULL body bytes (also when the stored copy is truncated).'),
    bytes: Type.Integer({ description: 'Length of the full body in bytes.' }),
    truncated: Type.Boolean({ description: 'Whether the stored copy was cut at the evidence cap.' }),
  },
  { additionalProperties: false },
);

const ScorerOutcome = Type.Object(
  {
    scorerId: Type.String(),
    verdict: Verdict(),
    rationale: Type.String({ description: "The scorer's explanation (at most 2,000 characters here)." }),
  },
  { additionalProperties: false },
);

export const AttemptSchema = Type.Object(
  {
    id: Uuid(),
    scanId: Uuid(),
    cellIndex: Type.Integer({ description: 'The plan cell: probe-major, then chain, then sample.' }),
    probeId: Type.String(),
    chainIndex: Type.Integer(),
    sampleIndex: Type.Integer(),
    converterLineage: Type.Array(Type.Unknown(), { description: 'One entry per converter step: name, effective parameters (free text as hashes), input and output hashes.' }),
    prompt: BodyFacts,
    response: Type.Union([BodyFacts, Type.Null()], { description: 'Null when no response came (transport error).' }),
    statusCode: Type.Union([Type.Integer(), Type.Null()]),
    latencyMs: Type.Integer(),
    retries: Type.Integer({ description: 'Re-sends of this cell (rate limits, timeouts, a worker that died mid-request).' }),
    errorCode: Type.Union([Type.String(), Type.Null()]),
    verdict: Verdict(),
    scores: Type.Array(ScorerOutcome),
    createdAt: Timestamp(),
  },
  { title: 'Attempt', additionalProperties: false },
);

/** Stored bytes of one piece of evidence, byte-exact (base64) with a lossy text view for reading. */
const Content = Type.Object(
  {
    base64: Type.String({ description: 'The stored bytes exactly (up to the evidence cap).' }),
    text: Type.String({ description: 'The same bytes decoded as UTF-8, invalid sequences replaced by U+FFFD: for reading, not for comparison.' }),
    storedBytes: Type.Integer(),
  },
  { additionalProperties: false },
);

/** The request as sent: URL without query secrets, secret header values replaced by "[redacted]". */
const RequestSchema = Type.Object(
  {
    method: Type.String(),
    url: Type.String(),
    headers: Type.Record(Type.String(), Type.String()),
    body: Type.Union([Content, Type.Null()]),
    bodyBytes: Type.Integer({ description: 'Length of the full body as sent.' }),
    bodySha256: Type.Union([Sha256Hex('SHA-256 of the full body as sent.'), Type.Null()]),
    bodyTruncated: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const EvidenceSchema = Type.Object(
  {
    attempt: AttemptSchema,
    promptOriginal: Content,
    promptConverted: Content,
    request: Type.Union([RequestSchema, Type.Null()], { description: 'Null when nothing was sent (the cell failed before sending).' }),
    response: Type.Union([Content, Type.Null()]),
    scoreDetails: Type.Unknown({ description: "Each scorer's full result, evidence spans included." }),
  },
  { title: 'AttemptEvidence', additionalProperties: false },
);
