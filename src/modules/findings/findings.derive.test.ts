import { describe, expect, it } from 'vitest';
import type { TaxonomyService } from '../taxonomies/taxonomy.types.js';
import { groupByFingerprint, mappingOf } from './findings.derive.js';
import type { ProbeStats } from './finding-sources.repo.js';

/** A fake crosswalk: 2025 LLM07 → 2026 LLM08, nothing else. */
const taxonomy: Pick<TaxonomyService, 'translate'> = {
  translate: (ref) => (ref === 'owasp-llm-2025:LLM07' ? [{ ref: 'owasp-llm-2026:LLM08', relation: 'renamed' }] : []),
};
const facts = { orgId: '0190a000-0000-7000-8000-00000000000a', targetId: '0190a000-0000-7000-8000-00000000000b' };
const stats = (probeId: string, succeeded: number, resisted: number, attemptIds: string[] = []): ProbeStats => ({
  probeId,
  succeeded,
  resisted,
  firstSucceededAt: succeeded > 0 ? new Date('2026-11-29T00:00:00Z') : null,
  lastSucceededAt: succeeded > 0 ? new Date('2026-11-29T00:01:00Z') : null,
  attemptIds,
});
const probe = (id: string, extra: Record<string, unknown> = {}) => ({ id, name: id, category: 'jailbreak', prompt: 'p', objective: 'Break the rules', ...extra });

describe('mappingOf', () => {
  it('prefers the probe’s own 2026 ref, then a translated older ref, then the category', () => {
    expect(mappingOf({ category: 'jailbreak', taxonomy: ['mitre-atlas:AML.T0054', 'owasp-llm-2026:LLM01'] }, taxonomy)).toEqual({ primaryRef: 'owasp-llm-2026:LLM01', refs: ['mitre-atlas:AML.T0054', 'owasp-llm-2026:LLM01'] });
    expect(mappingOf({ category: 'jailbreak', taxonomy: ['owasp-llm-2025:LLM07'] }, taxonomy)).toEqual({ primaryRef: 'owasp-llm-2026:LLM08', refs: ['owasp-llm-2026:LLM08', 'owasp-llm-2025:LLM07'] });
    expect(mappingOf({ category: 'misinformation' }, taxonomy)).toEqual({ primaryRef: 'owasp-llm-2026:LLM07', refs: ['owasp-llm-2026:LLM07'] });
    expect(mappingOf({ category: 'harmful-content' }, taxonomy)).toEqual({ primaryRef: null, refs: [] });
  });
});

describe('groupByFingerprint', () => {
  it('merges the probes of one family and objective into one group, sums trials, keeps 5 attempt ids', () => {
    const probes = [probe('a', { family: 'jb' }), probe('b', { family: 'jb', objective: 'break THE rules!' }), probe('c')];
    const groups = groupByFingerprint(facts, probes, [stats('a', 2, 1, ['1', '2', '3']), stats('b', 1, 0, ['4', '5', '6']), stats('c', 0, 2)], taxonomy);
    expect(groups).toHaveLength(2);
    const merged = groups.find((group) => group.identity.family === 'jb')!;
    expect(merged).toMatchObject({ succeeded: 3, trials: 4, attemptIds: ['1', '2', '3', '4', '5'] });
    expect(groups.find((group) => group.identity.family === 'c')).toMatchObject({ succeeded: 0, trials: 2, firstSeenAt: null });
    // Sorted by fingerprint: every derivation locks findings in the same order.
    expect(groups.map((group) => group.identity.fingerprint)).toEqual(groups.map((group) => group.identity.fingerprint).sort());
  });

  it('ignores attempts of probes the plan does not hold and probes without trials', () => {
    expect(groupByFingerprint(facts, [probe('a')], [stats('ghost', 3, 0), stats('a', 0, 0)], taxonomy)).toEqual([]);
  });
});
