import { Type } from 'typebox';
import { KEY_NAMES } from '../../config/config.schema.js';
import { Timestamp, Uuid } from '../../http/schemas.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Count = () => Type.Integer({ minimum: 0 });

export const KindParams = Type.Object(
  { kind: Type.Union(KEY_NAMES.map((name) => Type.Literal(name)), { description: 'The key kind, as its configuration variable is named.' }) },
  { additionalProperties: false },
);

export const RunParams = Type.Object({ id: Uuid('Rotation run id.') }, { additionalProperties: false });

const ColumnRows = Type.Object({ table: Type.String(), column: Type.String(), rows: Count() }, { additionalProperties: false });

const VersionStatus = Type.Object(
  {
    version: Type.Integer({ minimum: 1 }),
    current: Type.Boolean(),
    firstSeenAt: Nullable(Timestamp()),
    usage: Type.Array(ColumnRows, { description: 'Rows (checkpoints for the audit key) per table/column on this version.' }),
    retirable: Type.Boolean({ description: 'Whether the version may leave the keyring now.' }),
    reason: Nullable(Type.String({ description: 'Why it is not retirable, or what stays behind.' })),
  },
  { additionalProperties: false },
);

export const KeysStatusSchema = Type.Object(
  {
    kinds: Type.Array(
      Type.Object(
        {
          kind: Type.String(),
          source: Type.Union([Type.Literal('data-dir'), Type.Literal('configuration')]),
          current: Type.Integer({ minimum: 1 }),
          versions: Type.Array(VersionStatus),
          pinned: Type.Array(Type.Object({ table: Type.String(), column: Type.String(), rows: Count(), note: Type.String() }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { title: 'KeyInventory', additionalProperties: false, description: 'Version numbers and usage only: never key material.' },
);

export const AddedVersionSchema = Type.Object({ kind: Type.String(), version: Type.Integer({ minimum: 1 }) }, { title: 'AddedKeyVersion', additionalProperties: false });

const ColumnProgress = Type.Object(
  {
    key: Type.String(),
    table: Type.String(),
    column: Type.String(),
    examined: Count(),
    rotated: Count(),
    conflicts: Count(),
    failed: Count(),
    pinned: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

export const RotationRunSchema = Type.Object(
  {
    id: Uuid(),
    status: Type.Union([Type.Literal('running'), Type.Literal('finished'), Type.Literal('failed')]),
    startedAt: Timestamp(),
    finishedAt: Nullable(Timestamp()),
    columns: Type.Array(ColumnProgress),
    result: Nullable(
      Type.Object(
        {
          encryptionVersion: Type.Integer(),
          blindIndexVersion: Type.Integer(),
          rotated: Count(),
          failed: Count(),
          conflicts: Count(),
          interrupted: Type.Boolean(),
          failures: Type.Array(Type.Object({ table: Type.String(), column: Type.String(), id: Type.String(), reason: Type.String() }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { title: 'KeyRotationRun', additionalProperties: false },
);
