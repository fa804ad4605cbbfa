import { Type, type Static } from 'typebox';
import { PaginationQuery } from '../../http/pagination.js';
import { Timestamp, Uuid } from '../../http/schemas.js';
import { AUDIT_ACTOR_TYPES, AUDIT_OUTCOMES } from './audit.catalogue.js';

/** Most rows one export streams, whatever `limit` asks (documented in the route). */
export const EXPORT_MAX_ROWS = 100_000;
/** Widest time range an export or statistics request may cover. */
export const MAX_RANGE_DAYS = 92;
/** The range an export or statistics request covers when `from` is not given (ending at `to` or now). */
export const DEFAULT_RANGE_DAYS = 30;

// From the catalogue's lists, so a new outcome or actor type is searchable without an edit here.
const literals = <T extends string>(values: readonly T[]) => Type.Unsafe<T>(Type.Union(values.map((value) => Type.Literal(value))));
const OutcomeSchema = () => literals(AUDIT_OUTCOMES);
const ActorTypeSchema = () => literals(AUDIT_ACTOR_TYPES);

/** Filters shared by search, export and statistics. */
const filterFields = {
  scope: Type.Optional(
    Type.Union([Type.Literal('org'), Type.Literal('platform')], {
      description:
        '`org` (default): events of your active organisation, or of `orgId` for platform auditors. `platform`: platform-level events (no organisation); platform auditors only (403 otherwise).',
    }),
  ),
  orgId: Type.Optional(Uuid('Read this organisation (platform auditors only; 403 otherwise).')),
  actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Actor id (user, API key, client or system job).' })),
  actorType: Type.Optional(ActorTypeSchema()),
  action: Type.Optional(
    Type.String({
      maxLength: 120,
      pattern: '^[a-z][a-z-]*(\\.[a-z][a-z-]*){0,3}\\.?$',
      description: 'An exact action (`auth.login.failed`), or a prefix ending in a dot (`auth.`) for every action under it.',
    }),
  ),
  resourceType: Type.Optional(Type.String({ minLength: 1, maxLength: 60 })),
  resourceId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  outcome: Type.Optional(OutcomeSchema()),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or after this time (inclusive).' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Events before this time (exclusive); left out, every event up to the moment of the request.' })),
};

export const AuditEventsQuery = Type.Object({ ...PaginationQuery, ...filterFields }, { additionalProperties: false });

export const AuditExportQuery = Type.Object(
  {
    ...filterFields,
    format: Type.Union([Type.Literal('jsonl'), Type.Literal('csv')], { default: 'jsonl' }),
    limit: Type.Integer({ minimum: 1, maximum: EXPORT_MAX_ROWS, default: EXPORT_MAX_ROWS, description: `Most rows to export (at most ${EXPORT_MAX_ROWS}); the newest are kept.` }),
  },
  { additionalProperties: false },
);

export const AuditStatsQuery = Type.Object(filterFields, { additionalProperties: false });

export type AuditFilterQuery = Static<typeof AuditStatsQuery>;
export type AuditEventsQueryType = Static<typeof AuditEventsQuery>;
export type AuditExportQueryType = Static<typeof AuditExportQuery>;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

/** One event as auditors read it. The failed-login blind index is never shown. */
export const AuditEventSchema = Type.Object(
  {
    id: Uuid(),
    seq: Type.Union([Type.Integer(), Type.Null()], { description: 'Position in the sealed chain; null until sealed.' }),
    occurredAt: Timestamp(),
    actor: Type.Object(
      { type: ActorTypeSchema(), id: Nullable(Type.String()), userId: Nullable(Type.String()) },
      { additionalProperties: false },
    ),
    orgId: Nullable(Type.String()),
    action: Type.String(),
    resource: Type.Object({ type: Nullable(Type.String()), id: Nullable(Type.String()) }, { additionalProperties: false }),
    outcome: OutcomeSchema(),
    statusCode: Nullable(Type.Integer()),
    requestId: Nullable(Type.String()),
    clientIp: Nullable(Type.String({ description: 'Personal data: shown to auditors only.' })),
    userAgent: Nullable(Type.String({ description: 'Personal data: shown to auditors only.' })),
    changedFields: Type.Array(Type.String(), { description: 'Names of the fields a write changed, never their values.' }),
    detail: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
  },
  { title: 'AuditEvent', additionalProperties: false },
);

export type AuditEventView = Static<typeof AuditEventSchema>;

const counted = <T extends Parameters<typeof Type.Object>[0]>(key: T) =>
  Type.Array(Type.Object({ ...key, count: Type.Integer() }, { additionalProperties: false }));

export const AuditStatsSchema = Type.Object(
  {
    from: Timestamp(),
    to: Timestamp(),
    total: Type.Integer(),
    byAction: counted({ action: Type.String() }),
    byOutcome: counted({ outcome: OutcomeSchema() }),
    byActorType: counted({ actorType: ActorTypeSchema() }),
    perDay: counted({ day: Type.String({ description: 'UTC date, YYYY-MM-DD.' }) }),
  },
  { title: 'AuditStats', additionalProperties: false },
);

export type AuditStatsView = Static<typeof AuditStatsSchema>;
