import { Type } from 'typebox';
import { PaginationQuery } from '../../http/pagination.js';
import { Timestamp, Uuid } from '../../http/schemas.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const LegalHoldSchema = Type.Object(
  {
    id: Uuid(),
    orgId: Uuid('The organisation held (everything of it, unless scanId narrows the hold).'),
    scanId: Nullable(Uuid('A scan hold: only this scan’s attempts and evidence are held.')),
    reason: Type.String(),
    active: Type.Boolean({ description: 'False once released; a released hold is kept as a record.' }),
    createdAt: Timestamp(),
    createdBy: Nullable(Uuid()),
    releasedAt: Nullable(Timestamp()),
    releasedBy: Nullable(Uuid()),
  },
  { title: 'LegalHold', additionalProperties: false },
);

export const PlaceLegalHoldBody = Type.Object(
  {
    orgId: Uuid(),
    scanId: Type.Optional(Uuid()),
    // Line breaks allowed; other control and format characters are not.
    reason: Type.String({ minLength: 1, maxLength: 1000, pattern: '^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f\\p{Cf}]*$' }),
  },
  { additionalProperties: false },
);

export const ListQuery = Type.Object(PaginationQuery, { additionalProperties: false });

const Counts = Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
  description:
    'Rows per data class: auditEvents, attempts, datasetItems, datasets, targetVersions, targets, memberships, apiKeys, refreshTokens, refreshTokenFamilies, emailTokens, mailOutbox, alertDeliveries, alerts, and anonymisedUsers (soft-deleted users whose email and name were replaced, not deleted).',
});

export const RetentionPreviewSchema = Type.Object(
  { at: Timestamp(), counts: Counts },
  { title: 'RetentionPreview', additionalProperties: false, description: 'What a run started now would remove, legal holds applied.' },
);

export const RetentionRunSchema = Type.Object(
  {
    id: Uuid(),
    trigger: Type.Union([Type.Literal('schedule'), Type.Literal('api')]),
    actorId: Nullable(Uuid()),
    startedAt: Timestamp(),
    finishedAt: Timestamp(),
    outcome: Type.Union([Type.Literal('completed'), Type.Literal('interrupted'), Type.Literal('failed')]),
    counts: Counts,
  },
  { title: 'RetentionRun', additionalProperties: false },
);
