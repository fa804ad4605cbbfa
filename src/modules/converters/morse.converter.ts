import { Type } from 'typebox';
import { defineConverter } from './converter.js';

/** International Morse code (ITU-R M.1677-1): letters, digits and the punctuation it defines. */
const CODES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    A: '.-', B: '-...', C: '-.-.', D: '-..', E: '.', F: '..-.', G: '--.', H: '....', I: '..', J: '.---', K: '-.-', L: '.-..', M: '--',
    N: '-.', O: '---', P: '.--.', Q: '--.-', R: '.-.', S: '...', T: '-', U: '..-', V: '...-', W: '.--', X: '-..-', Y: '-.--', Z: '--..',
    0: '-----', 1: '.----', 2: '..---', 3: '...--', 4: '....-', 5: '.....', 6: '-....', 7: '--...', 8: '---..', 9: '----.',
    '.': '.-.-.-', ',': '--..--', '?': '..--..', "'": '.----.', '!': '-.-.--', '/': '-..-.', '(': '-.--.', ')': '-.--.-', '&': '.-...',
    ':': '---...', ';': '-.-.-.', '=': '-...-', '+': '.-.-.', '-': '-....-', _: '..--.-', '"': '.-..-.', $: '...-..-', '@': '.--.-.',
  }),
);
const LETTERS: ReadonlyMap<string, string> = new Map([...CODES].map(([letter, code]) => [code, letter]));

const WORD_GAP = '/';
const WHITESPACE = /^\s$/u;

/**
 * Letters are separated by a space and words by ` / `. A character Morse has no code for is
 * written as itself, as its own letter, so nothing is lost; decoding gives upper case (Morse has
 * no case) and one space for each run of whitespace. A dot-dash group that is no code decodes as
 * U+FFFD: models garble Morse often, and the rest of an answer is still worth scoring.
 */
export const morse = defineConverter({
  id: 'morse',
  name: 'Morse code',
  description: 'Writes the text in International Morse code (letters split by spaces, words by " / "); other characters stay as they are.',
  params: Type.Object({}, { additionalProperties: false }),
  reversible: true,
  roundTrip: 'Upper case (Morse has no case), each run of whitespace as one space; other characters exact.',
  // The longest code is 7 symbols plus a space, for a one-byte character.
  maxOutputBytes: (bytes) => bytes * 8,
  encode: (text) => {
    const tokens: string[] = [];
    for (const char of text) {
      if (WHITESPACE.test(char)) {
        if (tokens[tokens.length - 1] !== WORD_GAP) tokens.push(WORD_GAP);
        continue;
      }
      tokens.push(CODES.get(char.toUpperCase()) ?? char);
    }
    return tokens.join(' ');
  },
  decode: (text) => {
    let out = '';
    for (const letter of text.split(/\s+/u)) {
      if (letter === '') continue;
      if (letter === WORD_GAP) out += ' ';
      else if (/^[.-]+$/.test(letter)) out += LETTERS.get(letter) ?? '\uFFFD';
      else out += letter;
    }
    return { ok: true, text: out };
  },
});
