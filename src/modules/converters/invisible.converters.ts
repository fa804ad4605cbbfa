import { Type } from 'typebox';
import { defineConverter } from './converter.js';
import { byteLength, codePoints } from './text.js';

/**
 * Characters a person does not see but a tokenizer does: zero-width joiners and spaces, the
 * Unicode tag block (U+E0000–U+E007F, "ASCII smuggling"), and bidirectional overrides.
 */

const ZERO_WIDTH = { zwsp: '\u200B', zwnj: '\u200C', zwj: '\u200D', wj: '\u2060' } as const;

export const zeroWidth = defineConverter({
  id: 'zero-width',
  name: 'Zero-width characters',
  description: 'Inserts an invisible zero-width character (ZWSP, ZWNJ, ZWJ or word joiner) after every N characters.',
  params: Type.Object(
    {
      character: Type.Optional(Type.Enum(['zwsp', 'zwnj', 'zwj', 'wj'], { default: 'zwsp' })),
      every: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'Insert after every this many characters.' })),
    },
    { additionalProperties: false },
  ),
  // Decoding removes every copy of the chosen character: exact when the text had none of its own.
  reversible: true,
  roundTrip: 'Exact unless the text had the chosen zero-width character of its own (every copy is removed).',
  maxOutputBytes: (bytes) => bytes * 4,
  encode: (text, params) => {
    const mark = ZERO_WIDTH[params.character ?? 'zwsp'];
    const every = params.every ?? 1;
    const chars = codePoints(text);
    let out = '';
    chars.forEach((char, index) => {
      out += char;
      if ((index + 1) % every === 0 && index + 1 < chars.length) out += mark;
    });
    return out;
  },
  decode: (text, params) => ({ ok: true, text: text.replaceAll(ZERO_WIDTH[params.character ?? 'zwsp'], '') }),
});

const TAG_BASE = 0xe0000;
const isTag = (cp: number) => cp >= TAG_BASE && cp <= TAG_BASE + 0x7f;

export const tagSmuggling = defineConverter({
  id: 'tag-smuggling',
  name: 'Unicode tag smuggling',
  description:
    'Rewrites ASCII characters as invisible Unicode tag characters (U+E0000 + code), optionally after a visible cover text. Non-ASCII characters have no tag form and stay visible.',
  params: Type.Object(
    { visibleText: Type.Optional(Type.String({ maxLength: 1024, default: '', description: 'Visible text placed before the hidden part.' })) },
    { additionalProperties: false },
  ),
  // Exact when the text held no tag characters of its own (those decode to ASCII).
  reversible: true,
  roundTrip: 'Exact unless the text had tag characters of its own (they decode to ASCII).',
  contentParams: ['visibleText'],
  maxOutputBytes: (bytes, params) => byteLength(params.visibleText ?? '') + bytes * 4,
  encode: (text, params) => {
    let out = params.visibleText ?? '';
    for (const char of text) {
      const cp = char.codePointAt(0)!;
      out += cp < 0x80 ? String.fromCodePoint(TAG_BASE + cp) : char;
    }
    return out;
  },
  decode: (text, params) => {
    const cover = params.visibleText ?? '';
    const hidden = cover && text.startsWith(cover) ? text.slice(cover.length) : text;
    let out = '';
    for (const char of hidden) {
      const cp = char.codePointAt(0)!;
      out += isTag(cp) ? String.fromCharCode(cp - TAG_BASE) : char;
    }
    return { ok: true, text: out };
  },
});

const RLO = '\u202E';
const PDF = '\u202C';
const reverse = (text: string) => codePoints(text).reverse().join('');

export const bidiOverride = defineConverter({
  id: 'bidi-override',
  name: 'Bidi override',
  description:
    '`reverse`: reverses the characters and wraps them in RIGHT-TO-LEFT OVERRIDE … POP DIRECTIONAL FORMATTING, so the text displays as written while a model reads it backwards. `wrap`: wraps the text unchanged (it displays reversed).',
  params: Type.Object({ mode: Type.Optional(Type.Enum(['reverse', 'wrap'], { default: 'reverse' })) }, { additionalProperties: false }),
  // Reversal is by code point: exact unless a lone low surrogate directly precedes a lone high one
  // (reversed, the two would pair into one character).
  reversible: true,
  roundTrip: 'Exact unless a lone low surrogate directly precedes a lone high one; an unwrapped answer stops decoding.',
  maxOutputBytes: (bytes) => bytes + byteLength(RLO + PDF),
  encode: (text, params) => RLO + ((params.mode ?? 'reverse') === 'reverse' ? reverse(text) : text) + PDF,
  decode: (text, params) => {
    if (!text.startsWith(RLO) || !text.endsWith(PDF) || text.length < 2) {
      return { ok: false, reason: 'the text is not wrapped in a right-to-left override' };
    }
    const inner = text.slice(RLO.length, text.length - PDF.length);
    return { ok: true, text: (params.mode ?? 'reverse') === 'reverse' ? reverse(inner) : inner };
  },
});
