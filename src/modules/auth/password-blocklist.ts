import { readFileSync } from 'node:fs';

/**
 * The common-password blocklist shipped in `data/passwords/` (SecLists 10k most common, MIT; see
 * data/passwords/README.md). It is read from the project directory, never from DATA_DIR: it is part
 * of the product, not of one installation's state. Resolved from this file so the same relative
 * path works from `src/modules/auth` (tests, tsx) and `dist/modules/auth` (node): both sit three
 * levels below the project root.
 */
export const DEFAULT_BLOCKLIST_PATH: URL = new URL('../../../data/passwords/common-passwords.txt', import.meta.url);

/**
 * The form in which passwords are compared with the blocklist and with the user's identity: NFKC,
 * then Unicode default case mapping to upper and back to lower (so "ß" meets "SS" and "ſ" meets
 * "s", as full case folding would), final sigma made ordinary (JavaScript lowercases Σ by context),
 * then NFKC again because case mapping can leave text unnormalised. Locale-independent on purpose:
 * a Turkish-locale server must fold exactly like any other. Used only to compare, never to hash.
 */
export function foldPassword(text: string): string {
  return text.normalize('NFKC').toUpperCase().toLowerCase().replaceAll('ς', 'σ').normalize('NFKC');
}

/**
 * Blocklist entries from the text of a list (one password per line, LF or CRLF): folded like the
 * candidates they are checked against, blank lines dropped, duplicates removed keeping the first
 * (most frequent) occurrence. Shared by the loader and the build script so both fold identically.
 */
export function parseBlocklist(text: string): string[] {
  const entries = new Set<string>();
  for (const line of text.split('\n')) {
    const entry = foldPassword(line.endsWith('\r') ? line.slice(0, -1) : line);
    if (entry.length > 0) entries.add(entry);
  }
  return [...entries];
}

/**
 * Reads the blocklist once, synchronously, at start-up. Entries are folded again on load so a
 * hand-edited file cannot slip an unfolded (never matching) entry in. An empty list is an error:
 * it would silently switch the rule off.
 */
export function loadPasswordBlocklist(path: string | URL = DEFAULT_BLOCKLIST_PATH): ReadonlySet<string> {
  // The path comes from start-up wiring (the constant above or an operator's setting), never a request.
  // eslint-disable-next-line security/detect-non-literal-fs-filename
  const entries = parseBlocklist(readFileSync(path, 'utf8'));
  if (entries.length === 0) throw new Error(`password blocklist ${String(path)} holds no entries`);
  return new Set(entries);
}
