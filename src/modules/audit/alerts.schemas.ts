import { Type } from 'typebox';
import { PaginationQuery } from '../../http/pagination.js';
import { Timestamp, Uuid } from '../../http/schemas.js';

const RuleId = () => Type.String({ pattern: '^[a-z][a-z0-9-]{0,79}$', description: 'Rule id, e.g. failed-logins-per-account.' });

export const AlertSchema = Type.Object(
  {
    id: Uuid(),
    orgId: Type.Union([Uuid(), Type.Null()], { description: 'null: a platform-level alert (platform auditors only).' }),
    rule: RuleId(),
    severity: Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high'), Type.Literal('critical')]),
    summary: Type.String({ description: 'Ids and counts only.' }),
    status: Type.Union([Type.Literal('open'), Type.Literal('acknowledged')]),
    triggeredAt: Timestamp(),
    firstSeq: Type.Integer({ description: 'First audit sequence number the alert covers.' }),
    lastSeq: Type.Integer({ description: 'Sequence number of the event that raised it.' }),
    eventIds: Type.Array(Uuid(), { maxItems: 50 }),
    detail: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
    createdAt: Timestamp(),
    acknowledgedAt: Type.Union([Timestamp(), Type.Null()]),
    acknowledgedBy: Type.Union([Type.String(), Type.Null()]),
    note: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'AuditAlert', additionalProperties: false },
);

export const ListAlertsQuery = Type.Object(
  {
    ...PaginationQuery,
    status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('acknowledged')])),
    rule: Type.Optional(RuleId()),
  },
  { additionalProperties: false },
);

export const AcknowledgeAlertBody = Type.Object(
  {
    // Line breaks allowed; other control and format characters are not.
    note: Type.Optional(Type.String({ maxLength: 1000, pattern: '^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f\\p{Cf}]*$' })),
  },
  { additionalProperties: false },
);
