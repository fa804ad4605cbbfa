import { randomInt } from 'node:crypto';
import { Value } from 'typebox/value';
import { AppError, errors, type FieldError } from '../../platform/errors.js';
import { createRandom, MAX_SEED, stepSeed, type ConverterDefinition } from './converter.js';
import { converterCatalogue, findConverter } from './converter-registry.js';
import { byteLength, sha256 } from './text.js';

/** At most this many steps in a chain. */
export const MAX_CHAIN_STEPS = 10;
/** The text a chain starts from, in UTF-8 bytes. */
export const MAX_INPUT_BYTES = 64 * 1024;
/** Any step's output (and a response to decode), in UTF-8 bytes: some converters expand 5–10×. */
export const MAX_OUTPUT_BYTES = 1024 * 1024;

/** A step as a caller writes it. */
export interface ChainStep {
  converter: string;
  params?: unknown;
}

/**
 * One applied step. Hashes instead of text, and content parameters (prefix, template, cover
 * text) as `sha256:<hex>`, so lineage can be stored and logged without the attack content.
 */
export interface LineageEntry {
  converter: string;
  params: Record<string, unknown>;
  inputSha256: string;
  outputSha256: string;
}

export interface Decoded {
  /** The text after the steps that could be undone. */
  text: string;
  /** Whether every step of the chain was undone (or passed through). */
  complete: boolean;
  steps: { index: number; converter: string; outcome: 'decoded' | 'passed-through' }[];
  /** The step decoding stopped at, and why. */
  stoppedAt?: { index: number; converter: string; reason: string };
}

export interface PreviewResult {
  output: string;
  seed: number;
  lineage: LineageEntry[];
  decoded?: Decoded;
}

interface ResolvedStep {
  index: number;
  converter: ConverterDefinition;
  params: Record<string, unknown>;
}

export interface ConverterServiceDeps {
  /** Where a chain's seed comes from when the caller gives none (tests pass a fixed one). */
  newSeed?: () => number;
}

const escapePointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/** TypeBox errors → field errors: one per offending value, unknown parameters named one by one. */
function paramErrors(definition: ConverterDefinition, params: unknown, at: string): FieldError[] {
  const found = new Map<string, string>();
  for (const error of Value.Errors(definition.params, params)) {
    const extra = (error.params as { additionalProperties?: unknown }).additionalProperties;
    if (error.keyword === 'additionalProperties' && Array.isArray(extra)) {
      for (const name of extra) found.set(`${at}/${escapePointer(String(name))}`, 'is not a parameter of this converter');
    } else if (error.keyword !== 'boolean' && !found.has(at + error.instancePath)) {
      found.set(at + error.instancePath, error.message);
    }
  }
  if (found.size === 0) {
    for (const problem of definition.check?.(params) ?? []) found.set(at + problem.pointer, problem.detail);
  }
  return [...found].map(([pointer, detail]) => ({ in: 'body', pointer, detail }));
}

/**
 * Chains already checked, by identity: a scan applies the same frozen chain object to every cell,
 * and checking its parameters again each time was 2% of the scan worker's CPU. Only a valid chain is
 * kept, and callers get copies (apply() writes seeds into the parameters it is given).
 */
const resolvedChains = new WeakMap<readonly ChainStep[], readonly ResolvedStep[]>();
const copySteps = (steps: readonly ResolvedStep[]): ResolvedStep[] => steps.map((step) => ({ ...step, params: { ...step.params } }));

function resolve(chain: readonly ChainStep[], base: string): ResolvedStep[] {
  const known = resolvedChains.get(chain);
  if (known) return copySteps(known);
  if (chain.length > MAX_CHAIN_STEPS) {
    throw errors.validation([{ in: 'body', pointer: base, detail: `a chain has at most ${MAX_CHAIN_STEPS} steps` }]);
  }
  const problems: FieldError[] = [];
  const steps = chain.map((step, index): ResolvedStep | undefined => {
    const converter = findConverter(step.converter);
    if (!converter) {
      problems.push({ in: 'body', pointer: `${base}/${index}/converter`, detail: 'is not a known converter (see GET /api/v1/converters)' });
      return undefined;
    }
    // Defaults filled on a copy: the caller's object is never changed.
    const params = Value.Default(converter.params, structuredClone(step.params ?? {}));
    const stepProblems = paramErrors(converter, params, `${base}/${index}/params`);
    problems.push(...stepProblems);
    return stepProblems.length ? undefined : { index, converter, params: params as Record<string, unknown> };
  });
  if (problems.length > 0) throw errors.validation(problems);
  resolvedChains.set(chain, copySteps(steps as ResolvedStep[]));
  return steps as ResolvedStep[];
}

const tooLarge = (pointer: string, detail: string) =>
  new AppError(422, 'converter_output_too_large', { detail, errors: [{ in: 'body', pointer, detail }] });

function lineageParams(step: ResolvedStep): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...step.params };
  for (const name of step.converter.contentParams ?? []) {
    const value = shown[name];
    if (typeof value === 'string') shown[name] = `sha256:${sha256(value)}`;
  }
  return shown;
}

/**
 * Converter chains (issue 5 §3): pure computation, no state and no I/O, so it needs no container
 * wiring. Every size is checked before the text is built: a chain of expanding steps cannot
 * allocate past the output limit.
 */
export function createConverterService(deps: ConverterServiceDeps = {}) {
  const newSeed = deps.newSeed ?? (() => randomInt(0, MAX_SEED + 1));

  function apply(chain: readonly ChainStep[], text: string, options: { seed?: number; pointer?: string } = {}) {
    const base = options.pointer ?? '/chain';
    const steps = resolve(chain, base);
    if (byteLength(text) > MAX_INPUT_BYTES) {
      throw errors.validation([{ in: 'body', pointer: '/text', detail: `is larger than ${MAX_INPUT_BYTES} bytes (UTF-8)` }]);
    }
    const seed = options.seed ?? newSeed();
    const lineage: LineageEntry[] = [];
    let current = text;
    let currentSha = sha256(text);
    for (const step of steps) {
      if (step.converter.seeded && step.params.seed === undefined) step.params.seed = stepSeed(seed, step.index);
      const bound = step.converter.maxOutputBytes(byteLength(current), step.params);
      if (bound > MAX_OUTPUT_BYTES) {
        throw tooLarge(`${base}/${step.index}`, `this step could produce up to ${bound} bytes; the limit is ${MAX_OUTPUT_BYTES}`);
      }
      const output = step.converter.encode(current, step.params, createRandom(Number(step.params.seed ?? 0)));
      // The bound is the guard; this re-check only catches a bound that is wrong.
      if (byteLength(output) > MAX_OUTPUT_BYTES) throw tooLarge(`${base}/${step.index}`, `this step's output exceeds ${MAX_OUTPUT_BYTES} bytes`);
      const outputSha = sha256(output);
      lineage.push({ converter: step.converter.id, params: lineageParams(step), inputSha256: currentSha, outputSha256: outputSha });
      current = output;
      currentSha = outputSha;
    }
    return { output: current, seed, lineage };
  }

  /** Undoes the chain's reversible tail on a text (a model's answer), last step first. */
  function decode(chain: readonly ChainStep[], text: string, options: { pointer?: string; textPointer?: string } = {}): Decoded {
    const steps = resolve(chain, options.pointer ?? '/chain');
    if (byteLength(text) > MAX_OUTPUT_BYTES) {
      throw errors.validation([{ in: 'body', pointer: options.textPointer ?? '/response', detail: `is larger than ${MAX_OUTPUT_BYTES} bytes (UTF-8)` }]);
    }
    const decoded: Decoded = { text, complete: true, steps: [] };
    for (const step of [...steps].reverse()) {
      const { converter } = step;
      const outcome = converter.reversible && converter.decode ? converter.decode(decoded.text, step.params) : undefined;
      if (!outcome || !outcome.ok) {
        decoded.complete = false;
        decoded.stoppedAt = { index: step.index, converter: converter.id, reason: outcome ? outcome.reason : `${converter.name} is not reversible` };
        break;
      }
      decoded.text = outcome.text;
      decoded.steps.push({ index: step.index, converter: converter.id, outcome: outcome.passedThrough ? 'passed-through' : 'decoded' });
    }
    return decoded;
  }

  /** Whether the chain's last step can be undone (a preview then shows the round trip). */
  const endsReversible = (chain: readonly ChainStep[]) => {
    const last = chain.length ? findConverter(chain[chain.length - 1]!.converter) : undefined;
    return last?.reversible ?? false;
  };

  function preview(input: { chain: ChainStep[]; text: string; seed?: number; response?: string }): PreviewResult {
    const applied = apply(input.chain, input.text, { seed: input.seed });
    if (input.response !== undefined) return { ...applied, decoded: decode(input.chain, input.response) };
    return endsReversible(input.chain) ? { ...applied, decoded: decode(input.chain, applied.output) } : applied;
  }

  return { list: converterCatalogue, apply, decode, preview };
}

export type ConverterService = ReturnType<typeof createConverterService>;
