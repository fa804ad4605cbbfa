import { Type } from 'typebox';
import { defineConverter, MAX_SEED } from './converter.js';
import { byteLength, codePoints } from './text.js';

/** Surface rewrites that keep the text readable to a model while dodging exact-match filters. */

export const SeedParam = () =>
  Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEED, description: "Seed of this step's random choices; by default derived from the chain's seed." }));
export const ProbabilityParam = (fallback: number, what: string) =>
  Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: fallback, description: `Chance that each ${what} is changed.` }));

const BASIC: Readonly<Record<string, string>> = { a: '4', e: '3', i: '1', o: '0', s: '5', t: '7' };
const ADVANCED: Readonly<Record<string, string>> = { ...BASIC, b: '8', c: '(', g: '6', h: '#', i: '!', l: '1', s: '$', z: '2' };

export const leetspeak = defineConverter({
  id: 'leetspeak',
  name: 'Leetspeak',
  description: 'Replaces Latin letters with look-alike digits and symbols (a→4, e→3, …); `advanced` replaces more letters.',
  params: Type.Object({ level: Type.Optional(Type.Enum(['basic', 'advanced'], { default: 'basic' })) }, { additionalProperties: false }),
  // Digits already in the text make the mapping ambiguous: there is no faithful inverse.
  reversible: false,
  maxOutputBytes: (bytes) => bytes,
  encode: (text, params) => {
    const table = params.level === 'advanced' ? ADVANCED : BASIC;
    return text.replace(/[A-Za-z]/g, (letter) => table[letter.toLowerCase()] ?? letter);
  },
});

export const characterSpacing = defineConverter({
  id: 'character-spacing',
  name: 'Character spacing',
  description: 'Puts a separator (a space by default) between every two characters.',
  params: Type.Object(
    {
      // No surrogate halves: a separator half could pair with a lone surrogate of the text and fuse two characters.
      separator: Type.Optional(Type.String({ minLength: 1, maxLength: 8, pattern: '^[^\\uD800-\\uDFFF]+$', default: ' ' })),
    },
    { additionalProperties: false },
  ),
  reversible: true,
  roundTrip: 'Exact for any text; an answer not in the spaced form stops decoding.',
  maxOutputBytes: (bytes, params) => bytes + bytes * byteLength(params.separator ?? ' '),
  encode: (text, params) => codePoints(text).join(params.separator ?? ' '),
  /**
   * Strict: a character, then the separator, and so on. Positions, not a search, so a text that
   * itself contains the separator still comes back exactly.
   */
  decode: (text, params) => {
    const separator = params.separator ?? ' ';
    const chars = codePoints(text);
    const sep = codePoints(separator);
    let out = '';
    let i = 0;
    while (i < chars.length) {
      out += chars[i];
      i += 1;
      if (i === chars.length) break;
      for (let k = 0; k < sep.length; k++, i++) {
        if (chars[i] !== sep[k]) return { ok: false, reason: 'the text is not in the spaced form (a separator is missing)' };
      }
      if (i === chars.length) return { ok: false, reason: 'the spaced text ends with a separator' };
    }
    return { ok: true, text: out };
  },
});

export const randomCapitalisation = defineConverter({
  id: 'random-capitalisation',
  name: 'Random capitalisation',
  description: 'Upper-cases letters at random (seeded: the same seed gives the same output).',
  params: Type.Object({ probability: ProbabilityParam(0.5, 'letter'), seed: SeedParam() }, { additionalProperties: false }),
  reversible: false,
  seeded: true,
  // A one-code-point case change grows a character by at most one byte (2 → 3).
  maxOutputBytes: (bytes) => bytes * 2,
  encode: (text, params, random) => {
    const probability = params.probability ?? 0.5;
    let out = '';
    for (const char of text) {
      // One draw per character whatever it is, so an edit elsewhere in the text does not shift every later choice.
      const draw = random.next();
      const upper = char.toUpperCase();
      // Only one-for-one changes: 'ß' → 'SS' would change the text's length and shape.
      out += draw < probability && upper !== char && codePoints(upper).length === 1 ? upper : char;
    }
    return out;
  },
});
