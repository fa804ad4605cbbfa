import { describe, expect, it } from 'vitest';
import { AppError } from '../../platform/errors.js';
import { createConverterService } from '../converters/converters.service.js';
import { unavailableJudgeTransport } from '../scorers/judge.js';
import { createScorerService } from '../scorers/scorers.service.js';
import { loadStarterCatalogue } from '../probes/probe-catalogue.js';
import { cellAt, cellCount } from './scan-contract.js';
import { buildPlan, chunkSizeFor, cutChunks, MAX_CHUNKS, planHashOf, seededSample, type PlanInput, type PlanTarget } from './scan-plan.js';

const deps = {
  probes: loadStarterCatalogue(),
  converters: createConverterService(),
  scorers: createScorerService({ judge: () => unavailableJudgeTransport, audit: { recordNow: () => Promise.resolve('') } }),
};
const target: PlanTarget = { id: '0190a000-0000-7000-8000-000000000001', versionId: '0190a000-0000-7000-8000-000000000002', kind: 'sim:leaky', limits: { requestsPerMinute: 600, maxInFlight: 4 } };
const input = (extra: Partial<PlanInput> = {}): PlanInput => ({ probes: { categories: ['jailbreak'] }, scorers: [{ id: 'refusal' }], seed: 42, ...extra });

function problemsOf(run: () => unknown) {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(422);
    return ((error as AppError).errors ?? []).map((problem) => problem.pointer);
  }
  throw new Error('expected a 422');
}

describe('chunk size: about 10 s of work at the target limits', () => {
  it('follows min(rpm/60, maxInFlight/1 s) × 10 s, within 1..500', () => {
    expect(chunkSizeFor({ requestsPerMinute: 60, maxInFlight: 4 })).toBe(10);
    expect(chunkSizeFor({ requestsPerMinute: 600, maxInFlight: 4 })).toBe(40);
    expect(chunkSizeFor({ requestsPerMinute: 1_000_000, maxInFlight: 64 })).toBe(500);
    expect(chunkSizeFor({ requestsPerMinute: 3, maxInFlight: 4 })).toBe(1);
  });

  it('cuts every cell into exactly one contiguous chunk', () => {
    const chunks = cutChunks(95, 10);
    expect(chunks).toHaveLength(10);
    expect(chunks[0]).toEqual({ chunkIndex: 0, cellStart: 0, cellEnd: 10 });
    expect(chunks.at(-1)).toEqual({ chunkIndex: 9, cellStart: 90, cellEnd: 95 });
    for (let i = 1; i < chunks.length; i += 1) expect(chunks[i]!.cellStart).toBe(chunks[i - 1]!.cellEnd);
  });

  it('lengthens chunks rather than writing more than MAX_CHUNKS rows for a slow target', () => {
    const slow = { ...target, limits: { requestsPerMinute: 1, maxInFlight: 1 } };
    const built = buildPlan(deps, slow, input({ probes: { ids: ['starter.pii.recall-customer'] }, samples: 100, converterChains: Array.from({ length: 10 }, () => []) }));
    expect(built.cellsTotal).toBe(1000);
    expect(built.chunks.length).toBeLessThanOrEqual(MAX_CHUNKS);
    expect(built.chunks.at(-1)!.cellEnd).toBe(1000);
  });
});

describe('plan freezing', () => {
  it('gives the same hash for the same input and another for another seed or target version', () => {
    const a = buildPlan(deps, target, input());
    const b = buildPlan(deps, target, input());
    expect(a.planHash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.planHash).toBe(a.planHash);
    expect(buildPlan(deps, target, input({ seed: 43 })).planHash).not.toBe(a.planHash);
    expect(buildPlan(deps, { ...target, versionId: '0190a000-0000-7000-8000-000000000003' }, input()).planHash).not.toBe(a.planHash);
  });

  it('hashes canonical JSON: key order does not matter', () => {
    const { plan } = buildPlan(deps, target, input());
    const reordered = Object.fromEntries(Object.entries(plan).reverse()) as typeof plan;
    expect(planHashOf(reordered)).toBe(planHashOf(plan));
  });

  it('copies probe content and numbers cells probe × chain × sample', () => {
    const built = buildPlan(deps, target, input({ probes: { ids: ['starter.jailbreak.role-play'], inline: [{ name: 'mine', prompt: 'say \u0000 hi' }] }, converterChains: [[], [{ converter: 'rot13' }]], samples: 3 }));
    expect(built.plan.probes.map((probe) => probe.id)).toEqual(['starter.jailbreak.role-play', 'inline.0']);
    expect(built.plan.probes[1]).toEqual({ id: 'inline.0', name: 'mine', category: 'custom', prompt: 'say \u0000 hi' });
    expect(built.cellsTotal).toBe(cellCount(built.plan));
    expect(built.cellsTotal).toBe(12);
    expect(cellAt(built.plan, 7)).toEqual({ index: 7, probeIndex: 1, chainIndex: 0, sampleIndex: 1 });
  });

  it('samples probes by a seeded shuffle: reproducible per seed, in selection order', () => {
    const all = buildPlan(deps, target, input({ probes: { categories: ['prompt-injection', 'jailbreak', 'pii'] } })).plan.probes.map((probe) => probe.id);
    const pick = (seed: number) => buildPlan(deps, target, input({ probes: { categories: ['prompt-injection', 'jailbreak', 'pii'] }, sampleSize: 4, seed })).plan.probes.map((probe) => probe.id);
    expect(pick(7)).toEqual(pick(7));
    expect(pick(7)).toHaveLength(4);
    expect(pick(7).every((id) => all.includes(id))).toBe(true);
    expect([...pick(7)].sort((a, b) => all.indexOf(a) - all.indexOf(b))).toEqual(pick(7));
    const distinct = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => pick(seed).join()));
    expect(distinct.size).toBeGreaterThan(1);
    expect(seededSample([1, 2, 3], 3, 9)).toEqual([1, 2, 3]);
  });

  it('generates a seed when none is given', () => {
    const { plan } = buildPlan(deps, target, { probes: { categories: ['pii'] }, scorers: [{ id: 'refusal' }] });
    expect(Number.isInteger(plan.seed) && plan.seed >= 0).toBe(true);
  });
});

describe('plan validation: every problem as a JSON pointer', () => {
  it('names unknown probes, converters, bad converter params and bad scorer params together', () => {
    const pointers = problemsOf(() =>
      buildPlan(deps, target, {
        probes: { ids: ['starter.pii.recall-customer', 'no.such.probe'] },
        converterChains: [[], [{ converter: 'no-such-converter' }, { converter: 'prefix-suffix', params: {} }]],
        scorers: [{ id: 'refusal', params: { noRefusalMeans: 'maybe' } }, { id: 'nope' }],
      }),
    );
    expect(pointers).toEqual(
      expect.arrayContaining(['/probes/ids/1', '/converterChains/1/0/converter', '/converterChains/1/1/params', '/scorers/0/params/noRefusalMeans', '/scorers/1/id']),
    );
  });

  it('refuses an empty selection, a sample larger than it, and more than 100,000 cells', () => {
    expect(problemsOf(() => buildPlan(deps, target, input({ probes: {} })))).toEqual(['/probes']);
    expect(problemsOf(() => buildPlan(deps, target, input({ probes: { categories: ['pii'] }, sampleSize: 3 })))).toEqual(['/sampleSize']);
    const inline = Array.from({ length: 100 }, (_, index) => ({ name: `p${index}`, prompt: `prompt ${index}` }));
    const chains = Array.from({ length: 10 }, () => []);
    // (3 jailbreak + 100 inline probes) × 10 chains × 100 samples = 103,000 cells.
    expect(problemsOf(() => buildPlan(deps, target, input({ probes: { categories: ['jailbreak'], inline }, converterChains: chains, samples: 100 })))).toEqual(['/samples']);
  });
});
