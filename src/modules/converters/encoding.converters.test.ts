import { describe, expect, it } from 'vitest';
import { createConverterService } from './converters.service.js';

const service = createConverterService({ newSeed: () => 1 });
const enc = (converter: string, text: string, params?: object) => service.apply([{ converter, params }], text).output;
const dec = (converter: string, text: string, params?: object) => service.decode([{ converter, params }], text);

describe('base64', () => {
  it('encodes the UTF-8 bytes, standard or URL-safe', () => {
    expect(enc('base64', 'Hello, world!')).toBe('SGVsbG8sIHdvcmxkIQ==');
    expect(enc('base64', '\u{1F600}?>')).toBe('8J+YgD8+');
    expect(enc('base64', '\u{1F600}?>', { variant: 'url' })).toBe('8J-YgD8-');
  });

  it('decodes an answer with whitespace and either alphabet, and refuses what is not base64', () => {
    expect(dec('base64', ' SGVs\nbG8= ')).toMatchObject({ text: 'Hello', complete: true });
    expect(dec('base64', '8J-YgD8-').text).toBe('\u{1F600}?>');
    expect(dec('base64', 'I cannot help with that.')).toMatchObject({
      complete: false,
      stoppedAt: { index: 0, converter: 'base64', reason: 'the text is not base64' },
    });
    expect(dec('base64', 'abcde').complete).toBe(false);
  });
});

describe('hex', () => {
  it('writes byte pairs, optionally upper case and separated', () => {
    expect(enc('hex', 'Hi\u00e9')).toBe('4869c3a9');
    expect(enc('hex', 'Hi\u00e9', { uppercase: true, separator: ':' })).toBe('48:69:C3:A9');
  });

  it('decodes separated or spaced pairs, and refuses odd or foreign digits', () => {
    expect(dec('hex', '48 69 C3:A9').text).toBe('Hi\u00e9');
    expect(dec('hex', '486').complete).toBe(false);
    expect(dec('hex', 'zz').stoppedAt?.reason).toBe('the text is not hexadecimal byte pairs');
  });
});

describe('rot13', () => {
  it('rotates Latin letters only and is its own inverse', () => {
    expect(enc('rot13', 'Hello, World! é 123')).toBe('Uryyb, Jbeyq! é 123');
    expect(dec('rot13', 'Uryyb').text).toBe('Hello');
  });
});
