import { describe, expect, it } from 'vitest';
import { AppError } from '../../platform/errors.js';
import { createConverterService } from '../converters/converters.service.js';
import { unavailableJudgeTransport } from '../scorers/judge.js';
import { createScorerService } from '../scorers/scorers.service.js';
import { cellAt, cellCount, type PlanProbe } from './scan-contract.js';
import { buildPlan, chunkSizeFor, cutChunks, MAX_CHUNKS, planHashOf, seededSample, type PlanInput, type PlanTarget } from './scan-plan.js';

const deps = {
  converters: createConverterService(),
  scorers: createScorerService({ judge: () => unavailableJudgeTransport, audit: { recordNow: () => Promise.resolve('') } }),
};
const target: PlanTarget = { id: '0190a000-0000-7000-8000-000000000001', versionId: '0190a000-0000-7000-8000-000000000002', kind: 'sim:leaky', limits: { requestsPerMinute: 600, maxInFlight: 4 } };
/** Probes as the probes service resolves them (selection is tested in probes.service.test.ts). */
const probe = (id: string, extra: Partial<PlanProbe> = {}): PlanProbe => ({ id, name: id, category: 'jailbreak', prompt: `prompt of ${id}`, ...extra });
const jailbreaks = ['lib.jailbreak.one', 'lib.jailbreak.two', 'lib.jailbreak.three'].map((id) => probe(id));
const many = Array.from({ length: 9 }, (_, index) => probe(`lib.mixed.${index}`));
const input = (extra: Partial<PlanInput> = {}): PlanInput => ({ probes: jailbreaks, scorers: [{ id: 'refusal' }], seed: 42, ...extra });

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
    const built = buildPlan(deps, slow, input({ probes: [probe('lib.pii.one')], samples: 100, converterChains: Array.from({ length: 10 }, () => []) }));
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
    const inline: PlanProbe = { id: 'inline.0', name: 'mine', category: 'custom', prompt: 'say \u0000 hi', source: { kind: 'inline' } };
    const built = buildPlan(deps, target, input({ probes: [jailbreaks[0]!, inline], converterChains: [[], [{ converter: 'rot13' }]], samples: 3 }));
    expect(built.plan.probes.map((entry) => entry.id)).toEqual(['lib.jailbreak.one', 'inline.0']);
    expect(built.plan.probes[1]).toEqual(inline);
    expect(built.plan.chainSource).toBeUndefined();
    expect(built.cellsTotal).toBe(cellCount(built.plan));
    expect(built.cellsTotal).toBe(12);
    expect(cellAt(built.plan, 7)).toEqual({ index: 7, probeIndex: 1, chainIndex: 0, sampleIndex: 1 });
  });

  it('samples probes by a seeded shuffle: reproducible per seed, in selection order', () => {
    const all = buildPlan(deps, target, input({ probes: many })).plan.probes.map((entry) => entry.id);
    const pick = (seed: number) => buildPlan(deps, target, input({ probes: many, sampleSize: 4, seed })).plan.probes.map((entry) => entry.id);
    expect(pick(7)).toEqual(pick(7));
    expect(pick(7)).toHaveLength(4);
    expect(pick(7).every((id) => all.includes(id))).toBe(true);
    expect([...pick(7)].sort((a, b) => all.indexOf(a) - all.indexOf(b))).toEqual(pick(7));
    const distinct = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => pick(seed).join()));
    expect(distinct.size).toBeGreaterThan(1);
    expect(seededSample([1, 2, 3], 3, 9)).toEqual([1, 2, 3]);
  });

  it('generates a seed when none is given', () => {
    const { plan } = buildPlan(deps, target, { probes: jailbreaks, scorers: [{ id: 'refusal' }] });
    expect(Number.isInteger(plan.seed) && plan.seed >= 0).toBe(true);
  });
});

describe('plan validation: every problem as a JSON pointer', () => {
  it('names unknown converters, bad converter params and bad scorer params together', () => {
    const pointers = problemsOf(() =>
      buildPlan(deps, target, {
        probes: jailbreaks,
        converterChains: [[], [{ converter: 'no-such-converter' }, { converter: 'prefix-suffix', params: {} }]],
        scorers: [{ id: 'refusal', params: { noRefusalMeans: 'maybe' } }, { id: 'nope' }],
      }),
    );
    expect(pointers).toEqual(
      expect.arrayContaining(['/converterChains/1/0/converter', '/converterChains/1/1/params', '/scorers/0/params/noRefusalMeans', '/scorers/1/id']),
    );
  });

  it('refuses an empty selection, a sample larger than it, and more than 100,000 cells', () => {
    expect(problemsOf(() => buildPlan(deps, target, input({ probes: [] })))).toEqual(['/probes']);
    expect(problemsOf(() => buildPlan(deps, target, input({ probes: [probe('lib.pii.one')], sampleSize: 3 })))).toEqual(['/sampleSize']);
    const inline = Array.from({ length: 100 }, (_, index) => probe(`inline.${index}`));
    const chains = Array.from({ length: 10 }, () => []);
    // (3 jailbreak + 100 inline probes) × 10 chains × 100 samples = 103,000 cells.
    expect(problemsOf(() => buildPlan(deps, target, input({ probes: [...jailbreaks, ...inline], converterChains: chains, samples: 100 })))).toEqual(['/samples']);
  });
});

describe("a plan without scorers or chains: each probe's own", () => {
  const leak = probe('lib.leak.one', { category: 'system-prompt-leakage', scorers: [{ id: 'leak' }], converters: [{ converter: 'base64' }] });
  const plain = probe('lib.refusal.one', { scorers: [{ id: 'refusal', params: { noRefusalMeans: 'succeeded' } }], converters: [] });

  it('freezes empty plan scorers, one chain slot and chainSource probe, keeping each probe’s scorers and converters', () => {
    const built = buildPlan(deps, target, { probes: [leak, plain], samples: 2, seed: 3 });
    expect(built.plan.scorers).toEqual([]);
    expect(built.plan.chains).toEqual([[]]);
    expect(built.plan.chainSource).toBe('probe');
    expect(built.plan.probes.map((entry) => [entry.scorers, entry.converters])).toEqual([
      [[{ id: 'leak' }], [{ converter: 'base64' }]],
      [[{ id: 'refusal', params: { noRefusalMeans: 'succeeded' } }], []],
    ]);
    expect(built.cellsTotal).toBe(4);
    // Same input, same hash; request chains instead of the probes' own give another plan.
    expect(buildPlan(deps, target, { probes: [leak, plain], samples: 2, seed: 3 }).planHash).toBe(built.planHash);
    expect(buildPlan(deps, target, { probes: [leak, plain], samples: 2, seed: 3, converterChains: [[]] }).planHash).not.toBe(built.planHash);
  });

  it('refuses a probe without scorers of its own, and checks the probes’ scorers and chains like the plan’s', () => {
    expect(problemsOf(() => buildPlan(deps, target, { probes: [leak, probe('inline.0')], seed: 1 }))).toEqual(['/scorers']);
    // With request scorers the inline probe is fine.
    expect(buildPlan(deps, target, { probes: [leak, probe('inline.0')], scorers: [{ id: 'leak' }], seed: 1 }).plan.scorers).toEqual([{ id: 'leak' }]);
    const badScorer = probe('lib.bad.scorer', { scorers: [{ id: 'refusal', params: { noRefusalMeans: 'maybe' } }] });
    const badChain = probe('lib.bad.chain', { scorers: [{ id: 'leak' }], converters: [{ converter: 'no-such-converter' }] });
    expect(new Set(problemsOf(() => buildPlan(deps, target, { probes: [badScorer, badChain], seed: 1 })))).toEqual(new Set(['/probes/params/noRefusalMeans', '/probes/0/converter']));
    // Request chains replace the probes' own: their chains are then not used, nor checked.
    expect(buildPlan(deps, target, { probes: [badChain], converterChains: [[]], seed: 1 }).plan.chainSource).toBeUndefined();
  });
});
