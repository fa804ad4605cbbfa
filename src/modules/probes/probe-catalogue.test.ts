import { describe, expect, it } from 'vitest';
import { createProbeCatalogue, loadStarterCatalogue, PROBE_CATEGORIES } from './probe-catalogue.js';

describe('probe starter set', () => {
  it('ships probes in every category, each with an objective, ids unique', () => {
    const all = loadStarterCatalogue().all();
    expect(all.length).toBeGreaterThanOrEqual(12);
    expect(new Set(all.map((probe) => probe.category))).toEqual(new Set(PROBE_CATEGORIES));
    expect(new Set(all.map((probe) => probe.id)).size).toBe(all.length);
  });

  it('refuses a malformed file or a duplicate id instead of freezing it into plans', () => {
    const probe = { id: 'x.one', name: 'One', category: 'pii', prompt: 'p', objective: 'o' };
    expect(() => createProbeCatalogue({ formatVersion: 1, source: 's', probes: [{ ...probe, category: 'other' }] })).toThrow(/malformed/);
    expect(() => createProbeCatalogue({ formatVersion: 1, source: 's', probes: [probe, probe] })).toThrow(/twice/);
    expect(createProbeCatalogue({ formatVersion: 1, source: 's', probes: [probe] }).byId('x.one')).toEqual(probe);
  });
});
