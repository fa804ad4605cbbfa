import { describe, expect, it } from 'vitest';
import { createConverterService } from './converters.service.js';

const service = createConverterService({ newSeed: () => 1 });
const enc = (converter: string, text: string, params?: object, seed?: number) => service.apply([{ converter, params }], text, { seed }).output;
const dec = (converter: string, text: string, params?: object) => service.decode([{ converter, params }], text);

describe('leetspeak', () => {
  it('replaces the basic letters, or more at the advanced level', () => {
    expect(enc('leetspeak', 'Leet Speak: Test')).toBe('L337 5p34k: 7357');
    expect(enc('leetspeak', 'big hazel', { level: 'advanced' })).toBe('8!6 #4231');
  });

  it('is not reversible: decoding stops with a reason', () => {
    expect(dec('leetspeak', 'l337')).toMatchObject({ complete: false, stoppedAt: { reason: 'Leetspeak is not reversible' } });
  });
});

describe('character spacing', () => {
  it('separates code points, keeping astral characters whole', () => {
    expect(enc('character-spacing', 'ab\u{1F600}')).toBe('a b \u{1F600}');
    expect(enc('character-spacing', 'abc', { separator: '-*' })).toBe('a-*b-*c');
  });

  it('decodes by position, so a text holding the separator comes back exactly', () => {
    const spaced = enc('character-spacing', 'a b');
    expect(spaced).toBe('a   b');
    expect(dec('character-spacing', spaced).text).toBe('a b');
  });

  it('stops on an answer that is not in the spaced form', () => {
    expect(dec('character-spacing', 'ab').stoppedAt?.reason).toMatch(/not in the spaced form/);
    expect(dec('character-spacing', 'a b ').stoppedAt?.reason).toMatch(/ends with a separator/);
  });

  it('refuses an empty separator or one with a surrogate half', () => {
    expect(() => enc('character-spacing', 'ab', { separator: '' })).toThrow(expect.objectContaining({ status: 422 }));
    expect(() => enc('character-spacing', 'ab', { separator: '\uDC00' })).toThrow(expect.objectContaining({ status: 422 }));
  });
});

describe('random capitalisation', () => {
  const text = 'the quick brown fox jumps over the lazy dog';

  it('gives the same output for the same seed and another for another seed', () => {
    const a = enc('random-capitalisation', text, {}, 1234);
    expect(enc('random-capitalisation', text, {}, 1234)).toBe(a);
    expect(enc('random-capitalisation', text, {}, 4321)).not.toBe(a);
    expect(a.toLowerCase()).toBe(text);
    expect(a).not.toBe(text);
  });

  it('a step seed overrides the chain seed; probability 0 and 1 are the extremes', () => {
    expect(enc('random-capitalisation', text, { seed: 9 }, 1)).toBe(enc('random-capitalisation', text, { seed: 9 }, 2));
    expect(enc('random-capitalisation', text, { probability: 0 })).toBe(text);
    expect(enc('random-capitalisation', text, { probability: 1 })).toBe(text.toUpperCase());
  });

  it('changes case one for one only (ß stays, it would become two letters)', () => {
    expect(enc('random-capitalisation', 'straße', { probability: 1 })).toBe('STRAßE');
  });
});
