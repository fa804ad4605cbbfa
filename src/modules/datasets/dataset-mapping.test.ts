import { describe, expect, it } from 'vitest';
import type { AppError } from '../../platform/errors.js';
import { parseCsv } from './dataset-parsers.js';
import { checkMapping, describeProblem, mapRecords, type MappingSpec } from './dataset-mapping.js';

const taxonomy = { isValidRef: (ref: string) => ref === 'owasp-llm-2026:LLM01' };
const csv = 'goal,kind,ref,note,cat\nfirst,keep,r1,n1,jailbreak\nsecond,drop,r2,n2,\nthird,keep,r3,n3,weird\n  ,keep,r4,n4,\n';
const spec = (overrides: Partial<MappingSpec> = {}): MappingSpec => ({
  mapping: { prompt: 'goal', id: 'ref', category: 'cat' },
  defaults: { category: 'harmful-content', taxonomy: ['owasp-llm-2026:LLM01'] },
  ...overrides,
});

describe('checkMapping', () => {
  it('names every unknown column and bad taxonomy ref by JSON pointer, all at once', () => {
    let error: AppError | undefined;
    try {
      checkMapping(
        spec({ mapping: { prompt: 'nope', objective: 'missing', filter: { column: 'also', equals: 'x', in: ['y'] } }, defaults: { category: 'jailbreak', taxonomy: ['owasp-llm-2026:LLM99'] }, categoryMap: { a: 'jailbreak' } }),
        parseCsv(csv).columns,
        taxonomy,
      );
    } catch (caught) {
      error = caught as AppError;
    }
    expect(error?.status).toBe(422);
    expect(error?.errors?.map((entry) => entry.pointer)).toEqual(['/mapping/prompt', '/mapping/objective', '/mapping/filter/column', '/mapping/filter', '/categoryMap', '/defaults/taxonomy/0']);
    expect(error?.errors?.[0]?.detail).toContain('columns: goal, kind, ref, note, cat');
  });

  it('accepts a mapping of existing columns', () => {
    expect(() => checkMapping(spec(), parseCsv(csv).columns, taxonomy)).not.toThrow();
  });
});

describe('mapRecords', () => {
  it('maps prompt, key, category (default, map, or probe category) and keeps the rest as extra', () => {
    const result = mapRecords(parseCsv(csv), spec({ categoryMap: { weird: 'misinformation' } }));
    expect(result.totalRecords).toBe(4);
    expect(result.items.map((item) => [item.ordinal, item.key, item.prompt, item.category])).toEqual([
      [1, 'r1', 'first', 'jailbreak'],
      [2, 'r2', 'second', 'harmful-content'],
      [3, 'r3', 'third', 'misinformation'],
    ]);
    expect(result.items[0]).toMatchObject({ objective: null, taxonomy: ['owasp-llm-2026:LLM01'], complexity: 'medium', extra: { kind: 'keep', note: 'n1' }, line: 2, record: 1 });
    expect(result.problems.map(describeProblem)).toEqual(['line 5, record 4: the prompt column "goal" is empty']);
  });

  it('skips what the filter leaves out (equals and in) and numbers the kept ones from 1', () => {
    const kept = mapRecords(parseCsv(csv), spec({ mapping: { prompt: 'goal', filter: { column: 'kind', equals: 'keep' } } }));
    expect([kept.items.map((item) => item.key), kept.skipped]).toEqual([['1', '3'], 1]);
    const listed = mapRecords(parseCsv(csv), spec({ mapping: { prompt: 'goal', filter: { column: 'ref', in: ['r2', 'r3'] } } }));
    expect(listed.items.map((item) => [item.ordinal, item.prompt])).toEqual([
      [1, 'second'],
      [2, 'third'],
    ]);
  });

  it('reports a category that is neither mapped nor a probe category, and never reads the prototype', () => {
    const result = mapRecords(parseCsv('p,c\nx,toString\ny,weird\n'), spec({ mapping: { prompt: 'p', category: 'c' }, categoryMap: {} }));
    expect(result.items).toEqual([]);
    expect(result.problems.map((problem) => problem.detail)).toEqual([
      'the category "toString" is neither in categoryMap nor a probe category',
      'the category "weird" is neither in categoryMap nor a probe category',
    ]);
  });

  it('keeps parse problems beside mapping problems, in record order', () => {
    const result = mapRecords(parseCsv('p,q\n,1\nonly\nok,2\n'), spec({ mapping: { prompt: 'p' } }));
    expect(result.problems.map((problem) => problem.record)).toEqual([1, 2]);
    expect(result.items.map((item) => item.prompt)).toEqual(['ok']);
  });
});
