/**
 * Text folding that remembers where each folded character came from, so a match found in a
 * normalised copy (case-folded, invisible characters removed) still points at the original
 * response: evidence is offsets into what the target said, never a rewritten copy.
 */

/**
 * Code point ranges that render as nothing (soft hyphen, joiners, bidi controls, variation
 * selectors, Hangul fillers, tag characters): inserted to split a secret so naive matching misses it.
 */
const INVISIBLE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x00ad, 0x00ad], [0x034f, 0x034f], [0x061c, 0x061c], [0x115f, 0x1160], [0x17b4, 0x17b5], [0x180b, 0x180f],
  [0x200b, 0x200f], [0x202a, 0x202e], [0x2060, 0x2064], [0x2066, 0x206f], [0x3164, 0x3164], [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff], [0xffa0, 0xffa0], [0xe0000, 0xe007f], [0xe0100, 0xe01ef],
];

export function isInvisible(char: string): boolean {
  const codePoint = char.codePointAt(0) ?? 0;
  return INVISIBLE_RANGES.some(([low, high]) => codePoint >= low && codePoint <= high);
}
const WHITESPACE = /\s/u;

export interface MappedText {
  /** The folded text. */
  text: string;
  /** For each UTF-16 unit of `text`, the offset in the original where its code point starts. */
  origin: number[];
  /** The text before folding. */
  original: string;
}

export interface FoldOptions {
  caseFold?: boolean;
  /** Drop zero-width, bidi-control, variation-selector and tag characters. */
  stripInvisible?: boolean;
  stripWhitespace?: boolean;
  /** Curly apostrophes and quotes become straight ones (refusal phrases are written with '). */
  straightenQuotes?: boolean;
}

const QUOTES: Record<string, string> = { '\u2018': "'", '\u2019': "'", '\u02BC': "'", '\u2032': "'", '\u201C': '"', '\u201D': '"' };

export function foldText(original: string, options: FoldOptions): MappedText {
  let text = '';
  const origin: number[] = [];
  let offset = 0;
  for (const char of original) {
    const start = offset;
    offset += char.length;
    if (options.stripInvisible && isInvisible(char)) continue;
    if (options.stripWhitespace && WHITESPACE.test(char)) continue;
    let folded = options.straightenQuotes ? (QUOTES[char] ?? char) : char;
    if (options.caseFold) folded = folded.toLowerCase();
    text += folded;
    for (let i = 0; i < folded.length; i++) origin.push(start);
  }
  return { text, origin, original };
}

/** Maps a [start, end) range of the folded text back to the original response. */
export function originalSpan(mapped: MappedText, start: number, end: number): { start: number; end: number } {
  const from = mapped.origin[start] ?? mapped.original.length;
  const last = end > start ? mapped.origin[end - 1] : undefined;
  if (last === undefined) return { start: from, end: from };
  // Just past the original code point the last folded unit came from (two units for an astral one).
  const codePoint = mapped.original.codePointAt(last) ?? 0;
  return { start: from, end: last + (codePoint > 0xffff ? 2 : 1) };
}

/** Every occurrence of `needle` in `haystack` (non-overlapping), as [start, end) pairs. */
export function occurrences(haystack: string, needle: string, limit: number): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  if (needle.length === 0) return found;
  let from = 0;
  while (found.length < limit) {
    const at = haystack.indexOf(needle, from);
    if (at < 0) break;
    found.push([at, at + needle.length]);
    from = at + needle.length;
  }
  return found;
}

/**
 * A secret as it may appear in a rationale: its first two characters and its length, never
 * more, so a reader can tell which one leaked without the rationale leaking it again.
 */
export function maskSecret(secret: string): string {
  const head = Array.from(secret).slice(0, 2).join('');
  return `${head}… (${secret.length} chars)`;
}
