import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { byteLength, codePoints, fromWtf8, sha256, toWtf8 } from './text.js';

describe('WTF-8 bytes', () => {
  it('equal UTF-8 for well-formed text, astral characters and NUL included', () => {
    const text = 'héllo \u{1F600} \u0000 \u{E0041} 日本';
    expect(toWtf8(text).equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect(fromWtf8(toWtf8(text))).toBe(text);
  });

  it('keep a lone surrogate as its own three bytes instead of U+FFFD', () => {
    expect([...toWtf8('\uD800')]).toEqual([0xed, 0xa0, 0x80]);
    expect([...toWtf8('\uDFFF')]).toEqual([0xed, 0xbf, 0xbf]);
    expect(fromWtf8(toWtf8('a\uDC00\uD800b'))).toBe('a\uDC00\uD800b');
    expect(byteLength('\uD800')).toBe(3);
  });

  it('decode malformed bytes as one U+FFFD per bad byte, refusing overlong forms', () => {
    expect(fromWtf8(Buffer.from([0x61, 0xff, 0x62]))).toBe('a\uFFFDb');
    expect(fromWtf8(Buffer.from([0xc0, 0xaf]))).toBe('\uFFFD\uFFFD');
    expect(fromWtf8(Buffer.from([0xe2, 0x82]))).toBe('\uFFFD\uFFFD');
    expect(fromWtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe('\uFFFD'.repeat(4));
  });

  it('decode long input in chunks without losing characters', () => {
    const text = 'ab\u{1F600}'.repeat(10_000);
    expect(fromWtf8(toWtf8(text))).toBe(text);
  });
});

describe('sha256 and code points', () => {
  it('hashes the UTF-8 bytes, and a lone surrogate differently from U+FFFD', () => {
    expect(sha256('abc')).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(sha256('\uD800')).not.toBe(sha256('\uFFFD'));
  });

  it('splits by code point, a lone surrogate being one', () => {
    expect(codePoints('a\u{1F600}\uD800')).toEqual(['a', '\u{1F600}', '\uD800']);
  });
});
