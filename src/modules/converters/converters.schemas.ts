import { Type } from 'typebox';
import { AttackText } from '../../http/schemas.js';
import { MAX_SEED } from './converter.js';
import { MAX_CHAIN_STEPS, MAX_INPUT_BYTES, MAX_OUTPUT_BYTES } from './converters.service.js';

const Sha256 = () => Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 (hex) of the UTF-8 bytes.' });

export const ConverterInfoSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    description: Type.String(),
    reversible: Type.Boolean({ description: 'Whether a response can be decoded through this step.' }),
    roundTrip: Type.Union([Type.String(), Type.Null()], { description: 'What decoding gives back.' }),
    seeded: Type.Boolean({ description: 'Whether the step draws from the seeded random source (its `seed` is recorded in lineage).' }),
    parameters: Type.Unknown({ description: 'JSON Schema of `params` (closed: unknown parameters are refused).' }),
  },
  { title: 'Converter', additionalProperties: false },
);

export const ConverterListSchema = Type.Object(
  { items: Type.Array(ConverterInfoSchema), nextCursor: Type.Null({ description: 'The catalogue is one page.' }) },
  { additionalProperties: false },
);

const ChainStepSchema = Type.Object(
  {
    converter: Type.String({ minLength: 1, maxLength: 64, description: 'A converter id from GET /api/v1/converters.' }),
    // Each converter has its own closed schema: the service checks params against it (pointers into /chain/i/params).
    params: Type.Optional(Type.Unknown({ description: "An object matching the converter's `parameters` schema." })),
  },
  { additionalProperties: false },
);

export const PreviewBody = Type.Object(
  {
    chain: Type.Array(ChainStepSchema, { minItems: 1, maxItems: MAX_CHAIN_STEPS, description: 'Applied in order.' }),
    text: AttackText(MAX_INPUT_BYTES, `The text to convert: at most ${MAX_INPUT_BYTES} UTF-8 bytes, kept exactly as sent.`),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEED, description: 'Seed of the random steps; generated (and returned) when absent.' })),
    response: Type.Optional(
      AttackText(MAX_OUTPUT_BYTES, 'A model answer to decode through the chain instead of the round trip of `output`.'),
    ),
  },
  { additionalProperties: false },
);

const LineageEntrySchema = Type.Object(
  {
    converter: Type.String(),
    params: Type.Unknown({ description: 'Effective parameters (defaults and seed filled); free-text parameters as `sha256:<hex>`.' }),
    inputSha256: Sha256(),
    outputSha256: Sha256(),
  },
  { additionalProperties: false },
);

const DecodedSchema = Type.Object(
  {
    text: Type.String(),
    complete: Type.Boolean({ description: 'Whether every step was undone (or passed through).' }),
    steps: Type.Array(
      Type.Object(
        { index: Type.Integer(), converter: Type.String(), outcome: Type.Enum(['decoded', 'passed-through']) },
        { additionalProperties: false },
      ),
    ),
    stoppedAt: Type.Optional(
      Type.Object({ index: Type.Integer(), converter: Type.String(), reason: Type.String() }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export const PreviewResultSchema = Type.Object(
  {
    output: Type.String(),
    seed: Type.Integer({ description: 'The seed used: send it again to get the same output.' }),
    lineage: Type.Array(LineageEntrySchema),
    decoded: Type.Optional(DecodedSchema),
  },
  { title: 'ConverterPreview', additionalProperties: false },
);
