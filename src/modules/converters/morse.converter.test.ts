import { describe, expect, it } from 'vitest';
import { createConverterService } from './converters.service.js';

const service = createConverterService({ newSeed: () => 1 });
const enc = (text: string) => service.apply([{ converter: 'morse' }], text).output;
const dec = (text: string) => service.decode([{ converter: 'morse' }], text);

describe('morse', () => {
  it('writes letters split by spaces and words by " / ", case-insensitively', () => {
    expect(enc('SOS help')).toBe('... --- ... / .... . .-.. .--.');
    expect(enc('a1?')).toBe('.- .---- ..--..');
  });

  it('collapses each run of whitespace into one word gap', () => {
    expect(enc('a \t\n b')).toBe('.- / -...');
  });

  it('keeps characters without a code as themselves, so they survive decoding', () => {
    expect(enc('né\u{1F600}')).toBe('-. é \u{1F600}');
    expect(dec('-. é \u{1F600}').text).toBe('Né\u{1F600}');
  });

  it('decodes to upper case, tolerating extra whitespace, and marks unknown codes with U+FFFD', () => {
    expect(dec('  .... ..  /\n-.-- --- ..- ').text).toBe('HI YOU');
    expect(dec('.... ........ ..')).toMatchObject({ text: 'H\uFFFDI', complete: true });
  });
});
