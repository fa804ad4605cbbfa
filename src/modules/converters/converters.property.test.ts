import fc from 'fast-check';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { createRandom } from './converter.js';
import { CONVERTERS } from './converter-registry.js';
import { createConverterService } from './converters.service.js';
import { byteLength, codePoints } from './text.js';

/**
 * Round trips over hostile text: astral characters, NUL, lone surrogates of both kinds, bidi
 * controls and tag characters. Where a converter cannot carry some characters exactly, the
 * property says what it keeps (and the catalogue's `roundTrip` says the same to users).
 */

const SPECIALS = ['\u0000', '\uD800', '\uDC00', '\uDBFF', '\u{1F600}', '\u202E', '\u202C', '\u{E0041}', '\u200B', 'a', 'Z', ' ', '\n', '{{prompt}}', 'é', '\u3000', '！'];
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  // Raw UTF-16 units: lone surrogates anywhere, and pairs that happen to form.
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((units) => String.fromCharCode(...units)),
  fc.array(fc.constantFrom(...SPECIALS), { maxLength: 20 }).map((parts) => parts.join('')),
);

const service = createConverterService({ newSeed: () => 3 });
const roundTrip = (converter: string, text: string, params?: object) => {
  const chain = [{ converter, params }];
  return service.decode(chain, service.apply(chain, text).output);
};
const expectExact = (converter: string, params?: object, keep: (text: string) => boolean = () => true) =>
  fc.assert(
    fc.property(anyText.filter(keep), (text) => {
      const decoded = roundTrip(converter, text, params);
      expect(decoded.complete).toBe(true);
      expect(decoded.text).toBe(text);
    }),
    { numRuns: 300 },
  );

const lacks = (pattern: RegExp) => (text: string) => !pattern.test(text);

describe('round trips: decode(encode(x)) = x', () => {
  it('base64, both alphabets', () => {
    expectExact('base64');
    expectExact('base64', { variant: 'url' });
  });
  it('hex, every separator and case', () => {
    for (const separator of ['', ' ', ':', '-']) expectExact('hex', { separator, uppercase: separator === ':' });
  });
  it('rot13', () => expectExact('rot13'));
  it('character spacing, with any separator free of surrogate halves', () => {
    fc.assert(
      fc.property(anyText, fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }).filter(lacks(/[\uD800-\uDFFF]/)), (text, separator) => {
        expect(roundTrip('character-spacing', text, { separator }).text).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
  it('prefix/suffix and templates (the frame is stripped)', () => {
    expectExact('prefix-suffix', { prefix: '[[', suffix: ']]' });
    expectExact('jailbreak-template', { template: 'fiction-author' });
    expectExact('jailbreak-template', { custom: '{{prompt}}' });
  });
  it('zero-width, for text without the chosen character', () => expectExact('zero-width', { character: 'zwj', every: 3 }, lacks(/\u200D/)));
  it('tag smuggling, for text without tag characters of its own', () =>
    expectExact('tag-smuggling', { visibleText: 'cover' }, (text) => !codePoints(text).some((char) => char.codePointAt(0)! >= 0xe0000 && char.codePointAt(0)! <= 0xe007f)));
  it('full-width, for text without full-width forms or ideographic spaces', () => expectExact('full-width', undefined, lacks(/[\uFF01-\uFF5E\u3000]/)));
  it('bidi override, unless a lone low surrogate directly precedes a lone high one', () => {
    const loneLowThenLoneHigh = (text: string) =>
      codePoints(text).some((char, i, all) => /^[\uDC00-\uDFFF]$/.test(char) && /^[\uD800-\uDBFF]$/.test(all[i + 1] ?? ''));
    expectExact('bidi-override', undefined, (text) => !loneLowThenLoneHigh(text));
    expectExact('bidi-override', { mode: 'wrap' });
    // The documented exception, shown: the two halves fuse into one character when reversed.
    expect(roundTrip('bidi-override', 'a\uDC00\uD800b').text).not.toBe('a\uDC00\uD800b');
  });
});

describe('morse keeps everything but case and whitespace runs', () => {
  const canonical = (text: string) =>
    codePoints(text)
      .map((char) => (/^[A-Z0-9.,?'!/()&:;=+\-_"$@]$/.test(char.toUpperCase()) ? char.toUpperCase() : char))
      .join('')
      .replace(/\s+/gu, ' ');
  it('decode(encode(x)) = canonical(x)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(roundTrip('morse', text).text).toBe(canonical(text));
      }),
      { numRuns: 500 },
    );
  });
});

describe('every converter stays within its declared size bound', () => {
  const REQUIRED: Record<string, object> = { 'jailbreak-template': { template: 'reversed-rules' }, 'prefix-suffix': { prefix: 'p\u{1F600}', suffix: '\uD800' } };
  it.each(CONVERTERS.map((converter) => [converter.id, converter] as const))('%s', (_id, converter) => {
    const params = Value.Default(converter.params, structuredClone(REQUIRED[converter.id] ?? {})) as never;
    fc.assert(
      fc.property(anyText, fc.nat(), (text, seed) => {
        const output = converter.encode(text, params, createRandom(seed));
        expect(byteLength(output)).toBeLessThanOrEqual(converter.maxOutputBytes(byteLength(text), params));
      }),
      { numRuns: 200 },
    );
  });
});

describe('seeded converters', () => {
  it('give the same output for the same seed, whatever the text', () => {
    fc.assert(
      fc.property(anyText, fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom('random-capitalisation', 'homoglyphs', 'diacritics'), (text, seed, converter) => {
        const chain = [{ converter, params: { probability: 0.5 } }];
        expect(service.apply(chain, text, { seed }).output).toBe(service.apply(chain, text, { seed }).output);
      }),
      { numRuns: 200 },
    );
  });
});
