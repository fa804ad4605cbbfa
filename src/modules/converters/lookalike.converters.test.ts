import { describe, expect, it } from 'vitest';
import { createConverterService } from './converters.service.js';

const service = createConverterService({ newSeed: () => 1 });
const enc = (converter: string, text: string, params?: object, seed?: number) => service.apply([{ converter, params }], text, { seed }).output;
const dec = (converter: string, text: string, params?: object) => service.decode([{ converter, params }], text);

describe('full-width forms', () => {
  it('rewrites printable ASCII and the space, and decodes back', () => {
    expect(enc('full-width', 'Hi 5!\n')).toBe('Ｈｉ\u3000５！\n');
    expect(dec('full-width', 'Ｈｉ\u3000５！').text).toBe('Hi 5!');
  });
});

describe('homoglyphs', () => {
  it('replaces every mapped Latin letter by default, with a look-alike that is another code point', () => {
    const out = enc('homoglyphs', 'paypal.com');
    expect(out).toBe('\u0440\u0430\u0443\u0440\u0430\u04CF.\u0441\u043Em');
    expect(out).not.toBe('paypal.com');
  });

  it('replaces about the given share, reproducibly for one seed', () => {
    const text = 'a'.repeat(1000);
    const out = enc('homoglyphs', text, { probability: 0.3 }, 77);
    const replaced = [...out].filter((char) => char === '\u0430').length;
    expect(replaced).toBeGreaterThan(240);
    expect(replaced).toBeLessThan(360);
    expect(enc('homoglyphs', text, { probability: 0.3 }, 77)).toBe(out);
  });

  it('is not reversible', () => {
    expect(dec('homoglyphs', '\u0430').complete).toBe(false);
  });
});

describe('diacritics', () => {
  it('adds the chosen combining mark after each Latin letter', () => {
    expect(enc('diacritics', 'ab 1')).toBe('a\u0301b\u0301 1');
    expect(enc('diacritics', 'ab', { mark: 'diaeresis' }).normalize('NFC')).toBe('äb\u0308');
  });

  it('with random marks and a probability, is the same for the same seed', () => {
    const a = enc('diacritics', 'hello world', { mark: 'random', probability: 0.5 }, 5);
    expect(enc('diacritics', 'hello world', { mark: 'random', probability: 0.5 }, 5)).toBe(a);
    expect(a.normalize('NFD').replace(/[\u0300-\u036f]/g, '')).toBe('hello world');
  });
});
