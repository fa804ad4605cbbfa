import { describe, expect, it } from 'vitest';
import { createConverterService } from './converters.service.js';

const service = createConverterService({ newSeed: () => 1 });
const enc = (converter: string, text: string, params?: object) => service.apply([{ converter, params }], text).output;
const dec = (converter: string, text: string, params?: object) => service.decode([{ converter, params }], text);

describe('zero-width characters', () => {
  it('inserts the chosen character between every N code points, never at the end', () => {
    expect(enc('zero-width', 'abc')).toBe('a\u200Bb\u200Bc');
    expect(enc('zero-width', 'abcde', { character: 'wj', every: 2 })).toBe('ab\u2060cd\u2060e');
    expect(enc('zero-width', '\u{1F600}\u{1F600}', { character: 'zwj' })).toBe('\u{1F600}\u200D\u{1F600}');
  });

  it('decodes by removing that character only', () => {
    expect(dec('zero-width', 'a\u200Bb\u200Cc').text).toBe('ab\u200Cc');
  });
});

describe('tag-block smuggling', () => {
  it('maps ASCII to U+E0000 + code after a visible cover; non-ASCII stays visible', () => {
    expect(enc('tag-smuggling', 'Hi!\u0000é', { visibleText: 'ok' })).toBe('ok\u{E0048}\u{E0069}\u{E0021}\u{E0000}é');
  });

  it('decodes tags back to ASCII, with or without the cover', () => {
    expect(dec('tag-smuggling', 'ok\u{E0048}\u{E0069}', { visibleText: 'ok' }).text).toBe('Hi');
    expect(dec('tag-smuggling', 'Sure: \u{E0079}\u{E0065}\u{E0073}', { visibleText: 'ok' }).text).toBe('Sure: yes');
  });
});

describe('bidi override', () => {
  it('reverses and wraps in RLO … PDF, or only wraps', () => {
    expect(enc('bidi-override', 'ab\u{1F600}')).toBe('\u202E\u{1F600}ba\u202C');
    expect(enc('bidi-override', 'abc', { mode: 'wrap' })).toBe('\u202Eabc\u202C');
  });

  it('decodes a wrapped text and stops on an unwrapped one', () => {
    expect(dec('bidi-override', '\u202Ecba\u202C').text).toBe('abc');
    expect(dec('bidi-override', '\u202Eabc\u202C', { mode: 'wrap' }).text).toBe('abc');
    expect(dec('bidi-override', 'abc').stoppedAt?.reason).toMatch(/right-to-left override/);
  });
});
