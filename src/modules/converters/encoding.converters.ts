import { Type } from 'typebox';
import { defineConverter } from './converter.js';
import { fromWtf8, toWtf8 } from './text.js';

/**
 * Byte encodings a model is asked to decode itself (base64, hex) and the classic letter rotation.
 * Bytes are WTF-8 (text.ts): UTF-8 for any well-formed text, and a lone surrogate still survives
 * the round trip. Decoding a model's answer tolerates the whitespace models add around encodings.
 */

const NoParams = Type.Object({}, { additionalProperties: false });

const BASE64_TEXT = /^[A-Za-z0-9+/_-]*={0,2}$/;

export const base64 = defineConverter({
  id: 'base64',
  name: 'Base64',
  description: 'Encodes the UTF-8 bytes of the text as base64 (standard or URL-safe alphabet).',
  params: Type.Object(
    { variant: Type.Optional(Type.Enum(['standard', 'url'], { default: 'standard', description: '`url` uses `-_` and no padding.' })) },
    { additionalProperties: false },
  ),
  reversible: true,
  roundTrip: 'Exact for any text (a lone surrogate travels as its WTF-8 bytes). Whitespace in an answer is ignored.',
  maxOutputBytes: (bytes) => Math.ceil(bytes / 3) * 4,
  encode: (text, params) => toWtf8(text).toString(params.variant === 'url' ? 'base64url' : 'base64'),
  decode: (text) => {
    const compact = text.replace(/\s+/g, '');
    // Node's decoder skips foreign characters silently: check the alphabet and length first.
    if (!BASE64_TEXT.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) {
      return { ok: false, reason: 'the text is not base64' };
    }
    return { ok: true, text: fromWtf8(Buffer.from(compact, 'base64')) };
  },
});

const HEX_SEPARATORS = ['', ' ', ':', '-'] as const;

export const hex = defineConverter({
  id: 'hex',
  name: 'Hexadecimal',
  description: 'Writes the UTF-8 bytes of the text as hexadecimal pairs, optionally separated.',
  params: Type.Object(
    {
      uppercase: Type.Optional(Type.Boolean({ default: false })),
      separator: Type.Optional(Type.Enum([...HEX_SEPARATORS], { default: '', description: 'Between byte pairs.' })),
    },
    { additionalProperties: false },
  ),
  reversible: true,
  roundTrip: 'Exact for any text. Whitespace, `:` and `-` in an answer are ignored.',
  maxOutputBytes: (bytes) => bytes * 3,
  encode: (text, params) => {
    const digits = toWtf8(text).toString('hex');
    const pairs = params.separator ? (digits.match(/../g) ?? []).join(params.separator) : digits;
    return params.uppercase ? pairs.toUpperCase() : pairs;
  },
  decode: (text) => {
    const compact = text.replace(/[\s:-]+/g, '');
    if (compact.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(compact)) return { ok: false, reason: 'the text is not hexadecimal byte pairs' };
    return { ok: true, text: fromWtf8(Buffer.from(compact, 'hex')) };
  },
});

const rotate = (text: string) =>
  text.replace(/[A-Za-z]/g, (letter) => {
    const base = letter <= 'Z' ? 65 : 97;
    return String.fromCharCode(((letter.charCodeAt(0) - base + 13) % 26) + base);
  });

export const rot13 = defineConverter({
  id: 'rot13',
  name: 'ROT13',
  description: 'Rotates the Latin letters A–Z by 13 places; everything else is unchanged. Its own inverse.',
  params: NoParams,
  reversible: true,
  roundTrip: 'Exact for any text.',
  maxOutputBytes: (bytes) => bytes,
  encode: (text) => rotate(text),
  decode: (text) => ({ ok: true, text: rotate(text) }),
});
