import { createHash, randomInt } from 'node:crypto';
import { canonicalJson } from '../../platform/canonical-json.js';
import { errors, type FieldError } from '../../platform/errors.js';
import type { ChainStep, ConverterService } from '../converters/converters.service.js';
import type { ScorerConfig, ScorerService } from '../scorers/scorers.service.js';
import type { TargetLimits } from '../targets/target-call.js';
import { cellCount, type FrozenPlan, type PlanProbe } from './scan-contract.js';

/** A plan has at most this many cells (probes × chains × samples). */
export const MAX_CELLS = 100_000;
/** Seeds are PostgreSQL integers ≥ 0. */
export const MAX_PLAN_SEED = 2_147_483_647;
/** The longest a chunk should run (DESIGN §5: shutdown drains work cut this small). */
export const CHUNK_SECONDS = 10;
export const MAX_CHUNK_CELLS = 500;
/** Chunk rows are written with the scan in one transaction: a very slow target gets longer chunks instead of more rows. */
export const MAX_CHUNKS = 10_000;

/** What a plan is built from: the selected probes (already resolved) and the rest of the validated request. */
export interface PlanInput {
  probes: PlanProbe[];
  /** Absent: each probe is sent through its own converters (`chainSource` 'probe'). */
  converterChains?: ChainStep[][];
  /** Absent: each probe is judged by its own scorers (`plan.scorers` empty). */
  scorers?: ScorerConfig[];
  samples?: number;
  sampleSize?: number;
  seed?: number;
}

export interface PlanTarget {
  id: string;
  versionId: string;
  kind: string;
  limits: Pick<TargetLimits, 'requestsPerMinute' | 'maxInFlight'>;
}

/** A contiguous range of cells [cellStart, cellEnd): one chunk row and one queue job per run. */
export interface ChunkRange {
  chunkIndex: number;
  cellStart: number;
  cellEnd: number;
}

/**
 * Cells per chunk, so one chunk is about CHUNK_SECONDS of work at the target's limits:
 *   cells/s = min(requestsPerMinute / 60, maxInFlight / 1 s)      (1 s: a typical exchange)
 *   chunkSize = max(1, min(500, floor(CHUNK_SECONDS × cells/s)))
 * A slow target (60 rpm) gets 10-cell chunks; a fast one (64 in flight, high rpm) 500-cell chunks,
 * which keeps the per-chunk overhead (lease, job) small against the work.
 */
export function chunkSizeFor(limits: PlanTarget['limits']): number {
  const cellsPerSecond = Math.min(limits.requestsPerMinute / 60, limits.maxInFlight / 1);
  return Math.max(1, Math.min(MAX_CHUNK_CELLS, Math.floor(CHUNK_SECONDS * cellsPerSecond)));
}

export function cutChunks(cellsTotal: number, chunkSize: number): ChunkRange[] {
  const chunks: ChunkRange[] = [];
  for (let start = 0, index = 0; start < cellsTotal; start += chunkSize, index += 1) {
    chunks.push({ chunkIndex: index, cellStart: start, cellEnd: Math.min(cellsTotal, start + chunkSize) });
  }
  return chunks;
}

/** SHA-256 (hex) of the plan's canonical JSON: equal plans hash equal whatever their key order. */
export const planHashOf = (plan: FrozenPlan): string => createHash('sha256').update(canonicalJson(plan), 'utf8').digest('hex');

/** mulberry32: a seeded, reproducible order (not for secrets). */
function seededRandom(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Picks `size` items by a Fisher–Yates shuffle under `seed`, then restores their selection order. */
export function seededSample<T>(items: readonly T[], size: number, seed: number): T[] {
  const random = seededRandom(seed);
  const indices = items.map((_, index) => index);
  for (let i = indices.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [indices[i], indices[j]] = [indices[j]!, indices[i]!];
  }
  return indices
    .slice(0, size)
    .sort((a, b) => a - b)
    .map((index) => items[index]!);
}

/** The converters' and scorers' own checks, so a plan is refused for exactly what running it would refuse. */
function checkChain(converters: Pick<ConverterService, 'apply'>, chain: readonly ChainStep[], text: string, pointer: string, problems: FieldError[], label = '') {
  try {
    converters.apply(chain, text, { seed: 0, pointer });
  } catch (error) {
    const fieldErrors = (error as { errors?: FieldError[] }).errors;
    if (!fieldErrors) throw error;
    problems.push(...fieldErrors.map((problem) => ({ ...problem, detail: `${label}${problem.detail}` })));
  }
}

/** Plans without scorers or chains of their own use each probe's: every probe must have scorers, and its chain must apply. */
function checkProbeDefaults(deps: { converters: Pick<ConverterService, 'apply'>; scorers: Pick<ScorerService, 'validate'> }, probes: readonly PlanProbe[], input: PlanInput, problems: FieldError[]) {
  const checked = new Set<string>();
  const unscored: string[] = [];
  for (const probe of probes) {
    if (input.scorers === undefined) {
      const own = probe.scorers ?? [];
      if (own.length === 0) unscored.push(probe.id);
      own.forEach((config, index) => {
        const key = JSON.stringify(config);
        if (checked.has(key)) return;
        checked.add(key);
        problems.push(...deps.scorers.validate(config, '/probes').map((problem) => ({ ...problem, detail: `probe "${probe.id}" scorer ${index}: ${problem.detail}` })));
      });
    }
    if (input.converterChains === undefined && (probe.converters ?? []).length > 0) {
      checkChain(deps.converters, probe.converters!, probe.prompt, '/probes', problems, `probe "${probe.id}" converters: `);
    }
  }
  if (unscored.length > 0) {
    const named = unscored.slice(0, 5).map((id) => `"${id}"`).join(', ');
    problems.push({ in: 'body', pointer: '/scorers', detail: `is required: ${unscored.length} probe(s) have no scorers of their own (${named}${unscored.length > 5 ? ', …' : ''})` });
  }
}

/**
 * Freezes a plan from probes already selected and copied (a later library change alters no scan):
 * samples them, checks every converter chain and scorer (the plan's, or each probe's own when the
 * request names none), and fixes the seed and chunk size. Throws one 422 with every problem.
 */
export function buildPlan(
  deps: { converters: Pick<ConverterService, 'apply'>; scorers: Pick<ScorerService, 'validate'> },
  target: PlanTarget,
  input: PlanInput,
): { plan: FrozenPlan; planHash: string; cellsTotal: number; chunks: ChunkRange[] } {
  const problems: FieldError[] = [];
  const seed = input.seed ?? randomInt(0, MAX_PLAN_SEED + 1);
  let probes = input.probes;
  if (probes.length === 0) problems.push({ in: 'body', pointer: '/probes', detail: 'selects no probe' });
  if (input.sampleSize !== undefined && problems.length === 0) {
    if (input.sampleSize > probes.length) {
      problems.push({ in: 'body', pointer: '/sampleSize', detail: `is larger than the ${probes.length} probes selected` });
    } else {
      probes = seededSample(probes, input.sampleSize, seed);
    }
  }
  const chains = input.converterChains ?? [[]];
  (input.scorers ?? []).forEach((config, index) => problems.push(...deps.scorers.validate(config, `/scorers/${index}`)));
  // Applying each plan chain to the longest prompt checks its parameters and its output bound at once.
  const longest = probes.reduce((a, b) => (Buffer.byteLength(b.prompt) > Buffer.byteLength(a) ? b.prompt : a), '');
  (input.converterChains ?? []).forEach((chain, index) => checkChain(deps.converters, chain, longest, `/converterChains/${index}`, problems));
  checkProbeDefaults(deps, probes, input, problems);
  const samples = input.samples ?? 1;
  const cellsTotal = cellCount({ probes, chains, samples });
  if (problems.length === 0 && cellsTotal > MAX_CELLS) {
    problems.push({ in: 'body', pointer: '/samples', detail: `the plan has ${cellsTotal} cells (probes × chains × samples); the limit is ${MAX_CELLS}` });
  }
  if (problems.length > 0) throw errors.validation(problems.slice(0, 100));

  const chunkSize = Math.max(chunkSizeFor(target.limits), Math.ceil(cellsTotal / MAX_CHUNKS));
  const plan: FrozenPlan = {
    formatVersion: 1,
    target: { id: target.id, versionId: target.versionId, kind: target.kind },
    probes,
    chains: structuredClone(chains),
    // Without chains in the request each cell sends its probe through the probe's own converters.
    ...(input.converterChains === undefined ? { chainSource: 'probe' as const } : {}),
    scorers: structuredClone(input.scorers ?? []),
    samples,
    seed,
    chunkSize,
  };
  return { plan, planHash: planHashOf(plan), cellsTotal, chunks: cutChunks(cellsTotal, chunkSize) };
}
