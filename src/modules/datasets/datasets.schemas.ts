import { Type, type Static } from 'typebox';
import { NameString, Timestamp, Uuid } from '../../http/schemas.js';
import { EXPLOIT_COMPLEXITIES, PROBE_CATEGORIES } from '../probes/probe-contract.js';
import { TAXONOMY_REF_PATTERN } from '../taxonomies/taxonomy.types.js';
import { DATASET_FORMATS, DATASET_LIMITS } from './dataset-parsers.js';

/**
 * Dataset schemas (issue 7 §2). The file travels as a JSON string field (`content`); its size limit
 * is the parser's (8 MiB of UTF-8, 413 above) inside the route's own body limit.
 */

const ColumnName = () => Type.String({ minLength: 1, maxLength: 200 });
// Enum keeps the literal union in the static type (a mapped Union of Literals widens to never).
const Category = () => Type.Enum(PROBE_CATEGORIES);
const Complexity = () => Type.Enum(EXPLOIT_COMPLEXITIES);
const FilterValue = () => Type.String({ maxLength: 1000 });

export const MappingSchema = Type.Object(
  {
    prompt: ColumnName(),
    objective: Type.Optional(ColumnName()),
    id: Type.Optional(ColumnName()),
    category: Type.Optional(ColumnName()),
    filter: Type.Optional(
      Type.Object(
        {
          column: ColumnName(),
          equals: Type.Optional(FilterValue()),
          in: Type.Optional(Type.Array(FilterValue(), { minItems: 1, maxItems: 100 })),
        },
        { additionalProperties: false, description: 'Keep only records whose column equals the value (or one of `in`); the others are skipped.' },
      ),
    ),
  },
  { additionalProperties: false, description: 'Which source column becomes what; `id` defaults to the record number.' },
);

export const CategoryMapSchema = Type.Record(Type.String({ pattern: '^[\\s\\S]{1,200}$' }), Category(), {
  additionalProperties: false,
  maxProperties: 200,
  description: 'Source category value → probe category; unmapped values must be probe categories already.',
});

export const DefaultsSchema = Type.Object(
  {
    category: Category(),
    taxonomy: Type.Optional(Type.Array(Type.String({ pattern: TAXONOMY_REF_PATTERN }), { maxItems: 12, uniqueItems: true })),
    complexity: Type.Optional(Complexity()),
  },
  { additionalProperties: false },
);

const importFields = {
  format: Type.Enum(DATASET_FORMATS),
  // Bounded by the route's body limit; the service answers 413 above 8 MiB of UTF-8.
  content: Type.String({ minLength: 1, description: `The file, as text (at most ${DATASET_LIMITS.contentBytes / 1024 / 1024} MiB of UTF-8).` }),
  recordsPointer: Type.Optional(Type.String({ maxLength: 500, pattern: '^(/.*)?$', description: 'json only: JSON pointer to the array of records (e.g. `/payloads`); default: the document.' })),
  mapping: MappingSchema,
  categoryMap: Type.Optional(CategoryMapSchema),
  defaults: DefaultsSchema,
};

export const PreviewBody = Type.Object(importFields, { additionalProperties: false });
export type PreviewBodyValue = Static<typeof PreviewBody>;

export const CreateDatasetBody = Type.Object(
  {
    name: NameString(200),
    description: Type.Optional(NameString(2000)),
    source: Type.String({ minLength: 1, maxLength: 1000, description: 'Where the data comes from: a URL, a citation.' }),
    licence: NameString(200, 'The licence the data is used under (e.g. MIT, CC BY 4.0).'),
    ...importFields,
  },
  { additionalProperties: false },
);
export type CreateDatasetBodyValue = Static<typeof CreateDatasetBody>;

const Problem = Type.Object(
  { record: Type.Integer(), line: Type.Optional(Type.Integer()), detail: Type.String() },
  { additionalProperties: false },
);

export const DatasetItemSchema = Type.Object(
  {
    id: Uuid(),
    ordinal: Type.Integer({ minimum: 1 }),
    key: Type.String(),
    prompt: Type.String(),
    objective: Type.Union([Type.String(), Type.Null()]),
    category: Type.String(),
    taxonomy: Type.Array(Type.String()),
    extra: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]), { additionalProperties: false }),
  },
  { additionalProperties: false },
);

const PreviewItem = Type.Object(
  {
    ordinal: Type.Integer(),
    record: Type.Integer(),
    line: Type.Optional(Type.Integer()),
    key: Type.String(),
    prompt: Type.String(),
    objective: Type.Union([Type.String(), Type.Null()]),
    category: Type.String(),
    taxonomy: Type.Array(Type.String()),
    complexity: Complexity(),
    extra: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]), { additionalProperties: false }),
  },
  { additionalProperties: false },
);

export const PreviewResultSchema = Type.Object(
  {
    format: Type.String(),
    columns: Type.Array(Type.String()),
    totalRecords: Type.Integer({ description: 'Records in the content (header excluded).' }),
    accepted: Type.Integer({ description: 'Records that would become items.' }),
    skipped: Type.Integer({ description: 'Records the filter leaves out.' }),
    problemCount: Type.Integer(),
    problems: Type.Array(Problem, { description: 'The first 50 problems; an import with any problem is refused.' }),
    items: Type.Array(PreviewItem, { description: 'The first 20 mapped items.' }),
    contentSha256: Type.String(),
  },
  { additionalProperties: false },
);

export const DatasetSchema = Type.Object(
  {
    id: Uuid(),
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    source: Type.String(),
    licence: Type.String(),
    format: Type.String(),
    mapping: MappingSchema,
    categoryMap: Type.Union([CategoryMapSchema, Type.Null()]),
    recordsPointer: Type.Union([Type.String(), Type.Null()]),
    defaults: Type.Object(
      { category: Type.String(), taxonomy: Type.Array(Type.String()), complexity: Complexity() },
      { additionalProperties: false },
    ),
    contentSha256: Type.String(),
    itemCount: Type.Integer(),
    version: Type.Integer(),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
    createdBy: Type.Union([Uuid(), Type.Null()]),
  },
  { additionalProperties: false },
);
