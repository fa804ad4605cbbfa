import vm from 'node:vm';
import { invalidParam } from './scorer.types.js';

/** Longest pattern a caller may give (a regex is configuration, not a program). */
export const MAX_PATTERN_LENGTH = 512;
/** Longest input a caller's regex runs over; the rest of a longer response is not searched. */
export const REGEX_INPUT_LIMIT_CHARS = 65_536;
/** Wall-time bound on one regex search: V8 interrupts backtracking inside a vm script at its timeout. */
export const REGEX_TIMEOUT_MS = 100;

/** Flags a caller may add; `v` (Unicode sets, strict syntax) and `g` (iteration) are always ours. */
const ALLOWED_FLAGS = /^[ims]*$/;

export class RegexTimeoutError extends Error {
  constructor() {
    super('The pattern took too long on this input.');
    this.name = 'RegexTimeoutError';
  }
}

/**
 * Whether the pattern nests a quantifier inside a quantified group (`(a+)+`, `(\w*)*`, `(x{2,})+`):
 * the shape behind most catastrophic backtracking. A syntactic check only; the timeout below is the
 * backstop for what it cannot see (overlapping alternatives, backreferences).
 */
export function hasNestedQuantifier(pattern: string): boolean {
  const groups: boolean[] = [];
  let inClass = 0;
  let sawQuantifier = false;
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === '\\') {
      i++;
      continue;
    }
    if (inClass > 0) {
      if (char === '[') inClass++;
      else if (char === ']') inClass--;
      continue;
    }
    if (char === '[') inClass = 1;
    else if (char === '(') {
      groups.push(sawQuantifier);
      sawQuantifier = false;
    } else if (char === ')') {
      const inner: boolean = sawQuantifier;
      const outer = groups.pop() ?? false;
      const next = pattern[i + 1];
      const quantified = next === '+' || next === '*' || (next === '{' && /^\{\d*,\d*\}|^\{\d{2,}\}/.test(pattern.slice(i + 1)));
      if (inner && quantified) return true;
      sawQuantifier = outer || inner;
    } else if (char === '+' || char === '*' || (char === '{' && /^\{\d+,/.test(pattern.slice(i)))) {
      sawQuantifier = true;
    }
  }
  return false;
}

/**
 * Compiles a caller's pattern or answers 422: bounded length, known flags, no nested quantifiers,
 * and the `v` flag so the syntax is the strict one (no Annex B leniencies).
 */
export function compileSafeRegex(pattern: string, flags: string, param = 'pattern', mode: 'v' | 'u' = 'v'): RegExp {
  if (pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) throw invalidParam(param, `The pattern must be 1 to ${MAX_PATTERN_LENGTH} characters.`);
  if (!ALLOWED_FLAGS.test(flags) || new Set(flags).size !== flags.length) throw invalidParam('flags', 'Only the flags i, m and s may be given, each once.');
  if (hasNestedQuantifier(pattern)) throw invalidParam(param, 'The pattern nests a quantifier inside a repeated group, which can backtrack catastrophically.');
  try {
    // eslint-disable-next-line security/detect-non-literal-regexp -- a caller's pattern, bounded and checked above; it runs only under runBoundedRegex's timeout
    return new RegExp(pattern, `${flags}g${mode}`);
  } catch {
    // The engine's message may quote the pattern; the caller knows it, but keep the detail fixed.
    throw invalidParam(param, `The pattern is not a valid regular expression (flag ${mode}).`);
  }
}

const context = vm.createContext(Object.create(null) as object);
const search = new vm.Script(`(() => {
  const spans = [];
  re.lastIndex = 0;
  let match;
  while (spans.length < limit && (match = re.exec(input)) !== null) {
    spans.push([match.index, match.index + match[0].length]);
    if (match[0].length === 0) re.lastIndex++;
  }
  return spans;
})()`);

/** Runs a global regex over at most REGEX_INPUT_LIMIT_CHARS of input under a timeout; [start, end) spans. */
export function runBoundedRegex(re: RegExp, input: string, limit: number): { spans: Array<[number, number]>; truncated: boolean } {
  const truncated = input.length > REGEX_INPUT_LIMIT_CHARS;
  const scanned = truncated ? input.slice(0, REGEX_INPUT_LIMIT_CHARS) : input;
  Object.assign(context, { re, input: scanned, limit });
  try {
    const spans = search.runInContext(context, { timeout: REGEX_TIMEOUT_MS }) as Array<[number, number]>;
    return { spans: Array.from(spans, ([start, end]) => [start, end]), truncated };
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new RegexTimeoutError();
    throw error;
  } finally {
    // Do not keep a large response alive in the shared context.
    Object.assign(context, { re: null, input: null });
  }
}

/**
 * A RegExp-like for Ajv's `pattern` keyword: the same checks and the same timeout, with the `u`
 * flag JSON Schema specifies. A timeout throws out of validation (the scorer reports errored).
 */
export function boundedTester(pattern: string): { test(value: string): boolean; toString(): string } {
  const re = compileSafeRegex(pattern, '', 'schema', 'u');
  return {
    test: (value: string) => runBoundedRegex(re, value, 1).spans.length > 0,
    // Ajv keys compiled patterns by toString(): without this every pattern would share the first one's tester.
    toString: () => re.toString(),
  };
}
