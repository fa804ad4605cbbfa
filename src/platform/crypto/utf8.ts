// With the unicode flag a valid surrogate pair is one code point, so this matches only lone surrogates.
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * UTF-8 bytes of a string, refusing lone surrogates: Buffer.from would silently turn them into U+FFFD,
 * so the value read back (or the index looked up) would not be the one written.
 */
export function utf8Bytes(text: string): Buffer {
  if (LONE_SURROGATE.test(text)) throw new TypeError('text contains a lone surrogate and cannot be stored as UTF-8');
  return Buffer.from(text, 'utf8');
}

// fatal: invalid bytes throw instead of becoming U+FFFD; ignoreBOM: a leading U+FEFF is data, keep it.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The string of exactly these UTF-8 bytes; throws TypeError when they are not valid UTF-8. */
export function utf8Text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
