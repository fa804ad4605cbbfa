import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Bytes, utf8Text } from './utf8.js';

describe('utf8', () => {
  it('round-trips every well-formed string, including NUL and a leading BOM', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(utf8Text(utf8Bytes(text))).toBe(text);
      }),
    );
    expect(utf8Text(utf8Bytes('\uFEFFa\u0000b'))).toBe('\uFEFFa\u0000b');
  });

  it('refuses lone surrogates, which would otherwise all encode as U+FFFD', () => {
    for (const text of ['\uD800', 'a\uDBFFb', '\uDC00x', '\uDE00\uD83D']) expect(() => utf8Bytes(text)).toThrow(TypeError);
    expect(utf8Bytes('😀')).toEqual(Buffer.from([0xf0, 0x9f, 0x98, 0x80]));
  });

  it('refuses invalid UTF-8 instead of substituting U+FFFD', () => {
    for (const bytes of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) expect(() => utf8Text(Buffer.from(bytes))).toThrow(TypeError);
  });
});
