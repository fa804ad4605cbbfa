import { describe, expect, it } from 'vitest';
import { createTaxonomyService, loadTaxonomyService } from './taxonomies.service.js';
import { readTaxonomyFiles } from './taxonomy-files.js';
import { TAXONOMY_IDS, TAXONOMY_REF_PATTERN } from './taxonomy.types.js';

const taxonomies = loadTaxonomyService();
const kinds = (taxonomyId: string) => (taxonomies.nodes(taxonomyId) ?? []).reduce<Record<string, number>>((count, node) => ({ ...count, [node.kind]: (count[node.kind] ?? 0) + 1 }), {});

describe('the shipped taxonomies', () => {
  it('hold the upstream counts: 30 OWASP entries, 16 ATLAS tactics and 170 techniques, 72 AI RMF subcategories', () => {
    expect(taxonomies.list().map((summary) => summary.id)).toEqual([...TAXONOMY_IDS]);
    for (const edition of ['owasp-llm-2026', 'owasp-llm-2025', 'owasp-llm-2023']) expect(kinds(edition)).toEqual({ entry: 10 });
    expect(kinds('mitre-atlas')).toEqual({ tactic: 16, technique: 101, 'sub-technique': 69 });
    expect(kinds('nist-ai-rmf')).toEqual({ subcategory: 72 });
    expect(taxonomies.summary('mitre-atlas')).toMatchObject({ version: '5.6.0', nodeCount: 186, licence: expect.stringContaining('Apache-2.0') });
    expect(taxonomies.list().filter((summary) => summary.isDefault).map((summary) => summary.id)).toEqual(['owasp-llm-2026']);
  });

  it('gives every node a reference of the contract form, and every OWASP entry a base severity in 0-10', () => {
    // eslint-disable-next-line security/detect-non-literal-regexp -- the contract's own constant pattern
    const pattern = new RegExp(TAXONOMY_REF_PATTERN);
    for (const summary of taxonomies.list()) {
      for (const node of taxonomies.nodes(summary.id)!) {
        expect(node.ref, node.ref).toMatch(pattern);
        expect(taxonomies.node(node.ref)).toBe(node);
        if (summary.family === 'owasp-llm') expect(node.baseSeverity).toSatisfy((value: number) => value >= 0 && value <= 10);
      }
    }
  });

  it('keeps ATLAS structure: sub-techniques name their parent, techniques their tactics, descriptions plain and bounded', () => {
    expect(taxonomies.node('mitre-atlas:AML.T0051.000')).toMatchObject({ kind: 'sub-technique', parent: 'AML.T0051', tactics: ['AML.TA0005'] });
    expect(taxonomies.node('mitre-atlas:AML.TA0005')).toMatchObject({ kind: 'tactic', title: 'Execution' });
    for (const node of taxonomies.nodes('mitre-atlas')!) {
      expect(node.description!.length).toBeLessThanOrEqual(400);
      expect(node.description, node.id).not.toMatch(/\]\(|\n/);
    }
    expect(taxonomies.node('nist-ai-rmf:MEASURE 2.7')).toMatchObject({ kind: 'subcategory', parent: 'MEASURE', description: expect.stringContaining('security and resilience') });
  });

  it('gives one concept one base severity across editions (only partial moves may differ)', () => {
    const files = readTaxonomyFiles() as { owasp: { crosswalks: Record<string, Array<{ from: string; to: string; relation: string }>> } };
    const pairs = { '2023-2025': ['owasp-llm-2023', 'owasp-llm-2025'], '2025-2026': ['owasp-llm-2025', 'owasp-llm-2026'] } as const;
    for (const [name, [from, to]] of Object.entries(pairs)) {
      for (const row of files.owasp.crosswalks[name]!.filter((link) => link.relation !== 'partial')) {
        expect(taxonomies.node(`${from}:${row.from}`)!.baseSeverity, `${name} ${row.from} → ${row.to}`).toBe(taxonomies.node(`${to}:${row.to}`)!.baseSeverity);
      }
    }
  });
});

describe('refs', () => {
  it('accepts existing nodes only', () => {
    for (const ref of ['owasp-llm-2026:LLM08', 'owasp-llm-2023:LLM10', 'mitre-atlas:AML.T0051', 'mitre-atlas:AML.TA0000', 'nist-ai-rmf:GOVERN 1.1']) expect(taxonomies.isValidRef(ref), ref).toBe(true);
    for (const ref of ['owasp-llm-2026:LLM11', 'owasp-llm-2024:LLM01', 'LLM01', 'mitre-atlas:AML.T9999', 'nist-ai-rmf:measure 2.7', 'nist-ai-rmf:', ':LLM01', 'owasp-llm-2026:LLM01:x', '']) {
      expect(taxonomies.isValidRef(ref), ref).toBe(false);
    }
    expect(taxonomies.summary('owasp-llm')).toBeUndefined();
    expect(taxonomies.nodes('constructor')).toBeUndefined();
  });
});

describe('translate', () => {
  it('2026 LLM08 Hidden Context Exposure is 2025 LLM07, with the relation from the crosswalk', () => {
    expect(taxonomies.translate('owasp-llm-2026:LLM08', 'owasp-llm-2025')).toEqual([
      { ref: 'owasp-llm-2025:LLM07', relation: expect.stringContaining('Hidden Context Exposure') },
    ]);
    expect(taxonomies.translate('owasp-llm-2025:LLM07', 'owasp-llm-2026')).toEqual([{ ref: 'owasp-llm-2026:LLM08', relation: expect.stringContaining('renamed and broadened') }]);
  });

  it('has nothing in 2023 for what is new in 2025', () => {
    expect(taxonomies.translate('owasp-llm-2025:LLM07', 'owasp-llm-2023')).toEqual([]);
    expect(taxonomies.translate('owasp-llm-2026:LLM08', 'owasp-llm-2023')).toEqual([]);
    expect(taxonomies.translate('owasp-llm-2025:LLM08', 'owasp-llm-2023')).toEqual([]);
  });

  it('chains 2023 ↔ 2026 through 2025 and names the intermediate entry', () => {
    expect(taxonomies.translate('owasp-llm-2023:LLM02', 'owasp-llm-2026')).toEqual([{ ref: 'owasp-llm-2026:LLM10', relation: 'via owasp-llm-2025:LLM05: renamed, then same' }]);
    expect(taxonomies.translate('owasp-llm-2026:LLM10', 'owasp-llm-2023').map((link) => link.ref)).toEqual(['owasp-llm-2023:LLM02', 'owasp-llm-2023:LLM07']);
    expect(taxonomies.translate('owasp-llm-2023:LLM01', 'owasp-llm-2026')).toEqual([{ ref: 'owasp-llm-2026:LLM01', relation: 'same (via owasp-llm-2025:LLM01)' }]);
    // Insecure Plugin Design was split: both halves arrive in 2026.
    expect(taxonomies.translate('owasp-llm-2023:LLM07', 'owasp-llm-2026').map((link) => link.ref)).toEqual(['owasp-llm-2026:LLM03', 'owasp-llm-2026:LLM10']);
  });

  it('reads the crosswalks backwards, keeps a ref in its own edition, and answers [] outside OWASP or for unknown refs', () => {
    expect(taxonomies.translate('owasp-llm-2025:LLM06', 'owasp-llm-2023')).toEqual([
      { ref: 'owasp-llm-2023:LLM07', relation: 'partial' },
      { ref: 'owasp-llm-2023:LLM08', relation: 'same' },
    ]);
    expect(taxonomies.translate('owasp-llm-2026:LLM03', 'owasp-llm-2026')).toEqual([{ ref: 'owasp-llm-2026:LLM03', relation: 'same' }]);
    expect(taxonomies.translate('mitre-atlas:AML.T0051', 'owasp-llm-2026')).toEqual([]);
    expect(taxonomies.translate('mitre-atlas:AML.T0051', 'mitre-atlas')).toEqual([{ ref: 'mitre-atlas:AML.T0051', relation: 'same' }]);
    expect(taxonomies.translate('owasp-llm-2026:LLM42', 'owasp-llm-2025')).toEqual([]);
  });
});

describe('equivalents', () => {
  it('is the same OWASP entry in every edition, itself first', () => {
    expect(taxonomies.equivalents('owasp-llm-2026:LLM08')).toEqual(['owasp-llm-2026:LLM08', 'owasp-llm-2025:LLM07']);
    expect(new Set(taxonomies.equivalents('owasp-llm-2025:LLM05'))).toEqual(new Set(['owasp-llm-2025:LLM05', 'owasp-llm-2026:LLM10', 'owasp-llm-2023:LLM02', 'owasp-llm-2023:LLM07']));
    expect(new Set(taxonomies.equivalents('owasp-llm-2023:LLM01'))).toEqual(new Set(['owasp-llm-2023:LLM01', 'owasp-llm-2025:LLM01', 'owasp-llm-2026:LLM01']));
  });

  it('is the ref alone outside OWASP, and nothing for an unknown ref', () => {
    expect(taxonomies.equivalents('mitre-atlas:AML.T0051.000')).toEqual(['mitre-atlas:AML.T0051.000']);
    expect(taxonomies.equivalents('nist-ai-rmf:MEASURE 2.7')).toEqual(['nist-ai-rmf:MEASURE 2.7']);
    expect(taxonomies.equivalents('owasp-llm-2026:LLM99')).toEqual([]);
  });
});

describe('matching (what a filter on a ref finds)', () => {
  it('adds the OWASP equivalents, and under an ATLAS technique its sub-techniques', () => {
    expect(new Set(taxonomies.matching('owasp-llm-2025:LLM07'))).toEqual(new Set(['owasp-llm-2025:LLM07', 'owasp-llm-2026:LLM08']));
    const technique = taxonomies.matching('mitre-atlas:AML.T0051');
    expect(technique).toEqual(expect.arrayContaining(['mitre-atlas:AML.T0051', 'mitre-atlas:AML.T0051.000', 'mitre-atlas:AML.T0051.001']));
    expect(technique.every((ref) => ref === 'mitre-atlas:AML.T0051' || ref.startsWith('mitre-atlas:AML.T0051.'))).toBe(true);
    expect(taxonomies.matching('mitre-atlas:AML.T0051.000')).toEqual(['mitre-atlas:AML.T0051.000']);
  });

  it('under an ATLAS tactic finds the techniques serving it and their sub-techniques', () => {
    const tactic = taxonomies.node('mitre-atlas:AML.T0051')!.tactics![0]!;
    const refs = taxonomies.matching(`mitre-atlas:${tactic}`);
    expect(refs).toEqual(expect.arrayContaining([`mitre-atlas:${tactic}`, 'mitre-atlas:AML.T0051', 'mitre-atlas:AML.T0051.000']));
    for (const ref of refs.slice(1)) {
      const found = taxonomies.node(ref)!;
      const technique = found.parent === undefined ? found : taxonomies.node(`mitre-atlas:${found.parent}`)!;
      expect(technique.tactics).toContain(tactic);
    }
  });

  it('is nothing for an unknown ref', () => {
    expect(taxonomies.matching('mitre-atlas:AML.T9999')).toEqual([]);
  });
});

describe('the service is built from its files', () => {
  it('returns frozen data a caller cannot alter', () => {
    const service = createTaxonomyService(readTaxonomyFiles());
    expect(() => (service.nodes('owasp-llm-2026') as unknown[]).push({})).toThrow();
    expect(() => Object.assign(service.node('owasp-llm-2026:LLM01')!, { baseSeverity: 0 })).toThrow();
  });
});
