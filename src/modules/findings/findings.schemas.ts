import { Type } from 'typebox';
import { PaginationQuery } from '../../http/pagination.js';
import { Timestamp, Uuid } from '../../http/schemas.js';
import { TAXONOMY_REF_PATTERN } from '../taxonomies/taxonomy.types.js';

/** Findings schemas (issue 7 §4). Every list, string and count is bounded. */

/** Comments are triage notes; 10,000 characters is a long one. */
export const MAX_COMMENT_CHARS = 10_000;

const Status = Type.Union(
  [
    Type.Literal('new'),
    Type.Literal('confirmed'),
    Type.Literal('in-progress'),
    Type.Literal('fixed'),
    Type.Literal('accepted-risk'),
    Type.Literal('false-positive'),
    Type.Literal('reopened'),
  ],
  { description: 'new → confirmed → in-progress → fixed | accepted-risk | false-positive; fixed → reopened (a later scan shows it again, or by hand).' },
);
const Label = Type.Union([Type.Literal('critical'), Type.Literal('high'), Type.Literal('medium'), Type.Literal('low'), Type.Literal('info')]);
const Edition = Type.Union([Type.Literal('2026'), Type.Literal('2025'), Type.Literal('2023')], {
  description: 'The OWASP Top 10 for LLM Applications edition mappings are shown in (default 2026).',
});
const Ref = () => Type.String({ pattern: TAXONOMY_REF_PATTERN });

export const FindingListQuery = Type.Object(
  {
    ...PaginationQuery,
    status: Type.Optional(Status),
    severity: Type.Optional(Label),
    targetId: Type.Optional(Uuid()),
    taxonomy: Type.Optional(Type.String({ pattern: TAXONOMY_REF_PATTERN, description: 'A ref in any edition: matches findings mapped to it or its equivalents in the other OWASP editions (an ATLAS tactic or technique: also the nodes under it).' })),
    edition: Type.Optional(Edition),
  },
  { additionalProperties: false },
);

export const EditionQuery = Type.Object({ edition: Type.Optional(Edition) }, { additionalProperties: false });

const MappedRef = Type.Object(
  {
    ref: Ref(),
    title: Type.Union([Type.String(), Type.Null()]),
    relation: Type.Union([Type.String(), Type.Null()], { description: 'How the stored ref moved to this edition (crosswalk); null when shown as stored.' }),
  },
  { additionalProperties: false },
);

const findingFields = {
  id: Uuid(),
  targetId: Uuid('The target (across its versions).'),
  title: Type.String(),
  category: Type.String(),
  family: Type.String(),
  objective: Type.String({ description: 'Normalised: lower case, punctuation stripped, whitespace collapsed.' }),
  status: Status,
  assigneeId: Type.Union([Uuid(), Type.Null()]),
  severity: Type.Object({ score: Type.Number({ minimum: 0, maximum: 10 }), label: Label }, { additionalProperties: false }),
  complexity: Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')]),
  primaryRef: Type.Union([Ref(), Type.Null()], { description: 'The primary OWASP LLM 2026 entry (as stored).' }),
  taxonomyRefs: Type.Array(Ref(), { description: 'Every ref as stored (OWASP 2026, ATLAS, AI RMF).' }),
  mappings: Type.Object(
    {
      edition: Type.String(),
      primary: Type.Array(MappedRef, { description: 'The primary entry in the requested edition (several when it was split).' }),
      refs: Type.Array(MappedRef),
    },
    { additionalProperties: false },
  ),
  occurrences: Type.Integer({ description: 'Succeeded attempts over every scan.' }),
  trials: Type.Integer({ description: 'Succeeded + resisted attempts over every scan.' }),
  firstSeenAt: Timestamp(),
  lastSeenAt: Timestamp(),
  lastScanId: Uuid(),
  fixedAt: Type.Union([Timestamp(), Type.Null()]),
  reopenedCount: Type.Integer(),
  version: Type.Integer(),
  createdAt: Timestamp(),
  updatedAt: Timestamp(),
};

export const FindingSchema = Type.Object(findingFields, { additionalProperties: false, title: 'Finding' });

export const FindingDetailSchema = Type.Object(
  {
    ...findingFields,
    representativeAttemptIds: Type.Array(Uuid(), { maxItems: 5, description: 'Evidence: attempts of the scan that showed it last (GET /scans/{scanId}/attempts/{id}).' }),
    scans: Type.Array(
      Type.Object(
        {
          scanId: Uuid(),
          succeeded: Type.Integer(),
          trials: Type.Integer(),
          representativeAttemptIds: Type.Array(Uuid(), { maxItems: 5 }),
          firstSeenAt: Type.Union([Timestamp(), Type.Null()]),
          lastSeenAt: Type.Union([Timestamp(), Type.Null()]),
          scanCreatedAt: Timestamp(),
        },
        { additionalProperties: false },
      ),
      { maxItems: 100, description: 'Per-scan contributions, newest scan first (at most 100).' },
    ),
  },
  { additionalProperties: false, title: 'FindingDetail' },
);

export const UpdateFindingBody = Type.Object(
  {
    status: Type.Optional(Status),
    assigneeId: Type.Optional(Type.Union([Uuid('A member of the organisation.'), Type.Null()])),
    version: Type.Optional(Type.Integer({ minimum: 1, description: 'The version read (or send If-Match).' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const CommentBody = Type.Object({ body: Type.String({ minLength: 1, maxLength: MAX_COMMENT_CHARS }) }, { additionalProperties: false });

export const CommentSchema = Type.Object(
  { id: Uuid(), findingId: Uuid(), authorId: Type.Union([Uuid(), Type.Null()]), body: Type.String(), createdAt: Timestamp() },
  { additionalProperties: false, title: 'FindingComment' },
);
