import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';

/**
 * Estimates how guessable a password is, as a zxcvbn score from 0 (trivially guessable) to 4 (very
 * unguessable). `userInputs` are words an attacker who targets this user would try first.
 */
export type PasswordStrengthEstimator = (password: string, userInputs: readonly string[]) => number;

/**
 * zxcvbn scores only this many leading UTF-16 units. Its matchers are superlinear: measured here,
 * about 120 ms for 128 adversarial characters (repeated dates, leetspeak) and 400 ms for 256, all of
 * it blocking the event loop. The policy's maximum (128 code points by default, up to 1024) is
 * checked before this runs; a password allowed to be longer is judged by its first 128 units, so
 * it is refused only when that prefix alone is guessable.
 */
export const STRENGTH_ANALYSIS_MAX_UNITS = 128;

/**
 * zxcvbn-ts with the language-neutral dictionaries (common passwords, diceware words, keyboard
 * layouts). Levenshtein matching stays off: against the 49k-entry common list it cost about one
 * second per check for short digit strings (a CPU denial of service on registration), and exact
 * near-misses of common passwords are what the shipped blocklist and the l33t/reversal matchers
 * already catch. Built once, eagerly: the dictionaries take ~70 ms to index, paid at start-up
 * rather than by the first user to pick a password.
 */
export function createZxcvbnEstimator(): PasswordStrengthEstimator {
  const zxcvbn = new ZxcvbnFactory({
    dictionary,
    graphs: adjacencyGraphs,
    useLevenshteinDistance: false,
    maxLength: STRENGTH_ANALYSIS_MAX_UNITS,
  });
  return (password, userInputs) => zxcvbn.check(password, [...userInputs]).score;
}
