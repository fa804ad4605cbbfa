import { Type } from 'typebox';
import { defineConverter } from './converter.js';
import { ProbabilityParam, SeedParam } from './style.converters.js';

/** Characters that look like Latin text but are other code points: full-width forms, confusables, accents. */

const IDEOGRAPHIC_SPACE = 0x3000;
const FULL_WIDTH_OFFSET = 0xfee0;

export const fullWidth = defineConverter({
  id: 'full-width',
  name: 'Full-width forms',
  description: 'Rewrites printable ASCII as its full-width form (U+FF01–U+FF5E) and the space as the ideographic space.',
  params: Type.Object({}, { additionalProperties: false }),
  // Exact when the text held no full-width forms or ideographic spaces of its own.
  reversible: true,
  roundTrip: 'Exact unless the text had full-width forms or ideographic spaces of its own.',
  maxOutputBytes: (bytes) => bytes * 3,
  encode: (text) =>
    text.replace(/[\x20-\x7E]/g, (char) => String.fromCharCode(char === ' ' ? IDEOGRAPHIC_SPACE : char.charCodeAt(0) + FULL_WIDTH_OFFSET)),
  decode: (text) => ({
    ok: true,
    text: text.replace(/[\uFF01-\uFF5E\u3000]/g, (char) =>
      String.fromCharCode(char.charCodeAt(0) === IDEOGRAPHIC_SPACE ? 0x20 : char.charCodeAt(0) - FULL_WIDTH_OFFSET),
    ),
  }),
});

/**
 * Latin letters and the Cyrillic, Greek or Latin-extension letters drawn almost alike
 * (after Unicode's confusables data, chosen by hand: only pairs that are near-identical in common fonts).
 */
const CONFUSABLES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    a: '\u0430', c: '\u0441', d: '\u0501', e: '\u0435', g: '\u0261', h: '\u04BB', i: '\u0456', j: '\u0458', l: '\u04CF', o: '\u043E',
    p: '\u0440', q: '\u051B', s: '\u0455', w: '\u051D', x: '\u0445', y: '\u0443',
    A: '\u0410', B: '\u0412', C: '\u0421', E: '\u0415', H: '\u041D', I: '\u0406', J: '\u0408', K: '\u041A', M: '\u041C', N: '\u039D',
    O: '\u041E', P: '\u0420', S: '\u0405', T: '\u0422', X: '\u0425', Y: '\u04AE', Z: '\u0396',
  }),
);

export const homoglyphs = defineConverter({
  id: 'homoglyphs',
  name: 'Homoglyphs (confusables)',
  description: 'Replaces Latin letters with visually confusable Cyrillic and Greek letters, each with the given probability (seeded).',
  params: Type.Object({ probability: ProbabilityParam(1, 'letter'), seed: SeedParam() }, { additionalProperties: false }),
  // The text may hold Cyrillic or Greek of its own: mapping back would corrupt it.
  reversible: false,
  seeded: true,
  // Every replacement is two bytes for a one-byte letter.
  maxOutputBytes: (bytes) => bytes * 2,
  encode: (text, params, random) => {
    const probability = params.probability ?? 1;
    let out = '';
    for (const char of text) {
      const lookalike = CONFUSABLES.get(char);
      out += lookalike !== undefined && random.next() < probability ? lookalike : char;
    }
    return out;
  },
});

const MARKS = {
  acute: '\u0301',
  grave: '\u0300',
  circumflex: '\u0302',
  tilde: '\u0303',
  diaeresis: '\u0308',
  ring: '\u030A',
  caron: '\u030C',
} as const;
const MARK_LIST = Object.values(MARKS);

export const diacritics = defineConverter({
  id: 'diacritics',
  name: 'Diacritics',
  description: 'Adds a combining accent after Latin letters (one chosen mark, or a random one per letter), each with the given probability (seeded).',
  params: Type.Object(
    {
      mark: Type.Optional(Type.Enum([...Object.keys(MARKS), 'random'], { default: 'acute' })),
      probability: ProbabilityParam(1, 'letter'),
      seed: SeedParam(),
    },
    { additionalProperties: false },
  ),
  // Accents the text already had are indistinguishable from added ones, and models often normalise them.
  reversible: false,
  seeded: true,
  // A combining mark is two bytes after a one-byte letter.
  maxOutputBytes: (bytes) => bytes * 3,
  encode: (text, params, random) => {
    const probability = params.probability ?? 1;
    const chosen = params.mark ?? 'acute';
    return text.replace(/[A-Za-z]/g, (letter) => {
      // Both draws always happen, so the choice for one letter never depends on an earlier letter's outcome.
      const hit = random.next() < probability;
      const pick = MARK_LIST[random.below(MARK_LIST.length)]!;
      if (!hit) return letter;
      return letter + (chosen === 'random' ? pick : MARKS[chosen as keyof typeof MARKS]);
    });
  },
});
