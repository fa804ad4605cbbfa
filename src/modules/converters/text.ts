import { createHash } from 'node:crypto';

/**
 * Text helpers shared by the converters. JavaScript strings are UTF-16 and may hold lone
 * surrogates (not valid Unicode, but real in attack payloads and model output). Bytes are
 * WTF-8: identical to UTF-8 for well-formed text, and a lone surrogate keeps its own three-byte
 * form instead of collapsing into U+FFFD, so hashes and byte encodings stay injective.
 */

/** Code points of a string; a lone surrogate is one element of its own. */
export const codePoints = (text: string): string[] => Array.from(text);

/** A surrogate half without its partner (String.prototype.isWellFormed is not in the ES2023 lib). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** WTF-8 bytes (= UTF-8 when the text is well formed). */
export function toWtf8(text: string): Buffer {
  // Well-formed text (nearly all of it) takes the native encoder; only lone surrogates need the loop.
  if (!LONE_SURROGATE.test(text)) return Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(byteLength(text));
  let at = 0;
  for (const char of text) {
    const cp = char.codePointAt(0)!;
    if (cp < 0x80) out[at++] = cp;
    else if (cp < 0x800) {
      out[at++] = 0xc0 | (cp >> 6);
      out[at++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      out[at++] = 0xe0 | (cp >> 12);
      out[at++] = 0x80 | ((cp >> 6) & 0x3f);
      out[at++] = 0x80 | (cp & 0x3f);
    } else {
      out[at++] = 0xf0 | (cp >> 18);
      out[at++] = 0x80 | ((cp >> 12) & 0x3f);
      out[at++] = 0x80 | ((cp >> 6) & 0x3f);
      out[at++] = 0x80 | (cp & 0x3f);
    }
  }
  return out;
}

/** Bytes → text, the inverse of toWtf8; a malformed sequence is one U+FFFD per bad byte. */
export function fromWtf8(bytes: Uint8Array): string {
  const units: number[] = [];
  let text = '';
  const flush = () => {
    text += String.fromCharCode(...units);
    units.length = 0;
  };
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    const need = lead < 0x80 ? 0 : lead >= 0xc2 && lead < 0xe0 ? 1 : lead >= 0xe0 && lead < 0xf0 ? 2 : lead >= 0xf0 && lead < 0xf5 ? 3 : -1;
    let cp = need === 0 ? lead : need === 1 ? lead & 0x1f : need === 2 ? lead & 0x0f : lead & 0x07;
    let ok = need >= 0 && i + need < bytes.length;
    for (let k = 1; ok && k <= need; k++) {
      const next = bytes[i + k]!;
      if ((next & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (next & 0x3f);
    }
    // Overlong forms and values past U+10FFFF are refused; surrogates (ED A0..BF xx) are WTF-8's point.
    if (ok && ((need === 2 && cp < 0x800) || (need === 3 && (cp < 0x10000 || cp > 0x10ffff)))) ok = false;
    if (!ok) {
      units.push(0xfffd);
      i += 1;
    } else {
      if (cp >= 0x10000) units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
      else units.push(cp);
      i += need + 1;
    }
    if (units.length >= 8192) flush();
  }
  flush();
  return text;
}

/** Size in WTF-8 bytes (Buffer counts a lone surrogate as three bytes, as WTF-8 does). */
export const byteLength = (text: string): number => Buffer.byteLength(text, 'utf8');

/** SHA-256 (hex) of the WTF-8 bytes: what lineage records instead of content. */
export const sha256 = (text: string): string => createHash('sha256').update(toWtf8(text)).digest('hex');
