import type { TSchema } from 'typebox';
import type { ConverterDefinition } from './converter.js';
import { base64, hex, rot13 } from './encoding.converters.js';
import { characterSpacing, leetspeak, randomCapitalisation } from './style.converters.js';
import { diacritics, fullWidth, homoglyphs } from './lookalike.converters.js';
import { bidiOverride, tagSmuggling, zeroWidth } from './invisible.converters.js';
import { morse } from './morse.converter.js';
import { jailbreakTemplate, prefixSuffix } from './framing.converters.js';

/** Every converter, in the order the catalogue lists them. */
export const CONVERTERS: readonly ConverterDefinition[] = [
  base64,
  hex,
  rot13,
  morse,
  leetspeak,
  characterSpacing,
  randomCapitalisation,
  homoglyphs,
  diacritics,
  fullWidth,
  zeroWidth,
  tagSmuggling,
  bidiOverride,
  jailbreakTemplate,
  prefixSuffix,
];

// A Map, not an object: an id like `__proto__` or `constructor` must be unknown, not a prototype member.
const BY_ID: ReadonlyMap<string, ConverterDefinition> = new Map(CONVERTERS.map((converter) => [converter.id, converter]));

export const findConverter = (id: string): ConverterDefinition | undefined => BY_ID.get(id);

/** What the catalogue shows of a converter: its parameters as JSON Schema, straight from TypeBox. */
export interface ConverterInfo {
  id: string;
  name: string;
  description: string;
  reversible: boolean;
  /** What decoding gives back (null: not reversible). */
  roundTrip: string | null;
  seeded: boolean;
  parameters: TSchema;
}

export const converterCatalogue = (): ConverterInfo[] =>
  CONVERTERS.map(({ id, name, description, reversible, roundTrip, seeded, params }) => ({
    id,
    name,
    description,
    reversible,
    roundTrip: roundTrip ?? null,
    seeded: seeded ?? false,
    parameters: params,
  }));
