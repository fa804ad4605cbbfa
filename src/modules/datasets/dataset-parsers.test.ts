import { describe, expect, it } from 'vitest';
import { AppError } from '../../platform/errors.js';
import { DATASET_LIMITS, parseCsv, parseDataset, parseJson, parseJsonl, resolvePointer } from './dataset-parsers.js';

const rows = (content: string) => parseCsv(content).records.map((record) => record.values);

function thrown(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected an AppError');
}

describe('parseCsv (RFC 4180)', () => {
  it('reads a header and records, with quoted commas and doubled quotes', () => {
    const parsed = parseCsv('a,b,c\n1,"two, three","say ""hi"""\n');
    expect(parsed.columns).toEqual(['a', 'b', 'c']);
    expect(parsed.records).toEqual([{ record: 1, line: 2, values: ['1', 'two, three', 'say "hi"'] }]);
    expect(parsed.problems).toEqual([]);
  });

  it('keeps multi-line quoted fields byte for byte, CRLF and LF alike, and numbers lines physically', () => {
    const content = 'id,text\r\n1,"first\r\nsecond\nthird"\r\n2,plain\n3,"x"';
    const parsed = parseCsv(content);
    expect(parsed.records.map((record) => [record.line, record.values[1]])).toEqual([
      [2, 'first\r\nsecond\nthird'],
      [5, 'plain'],
      [6, 'x'],
    ]);
  });

  it('drops a byte order mark, skips blank lines, accepts a lone CR and a last record without newline', () => {
    expect(parseCsv('\uFEFFa,b\n\n1,2\r\r3,4').columns).toEqual(['a', 'b']);
    expect(rows('\uFEFFa,b\n\n1,2\r\r3,4')).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
  });

  it('keeps empty fields, including a trailing one', () => {
    expect(rows('a,b,c\n,,\n1,,3\n"",x,')).toEqual([
      ['', '', ''],
      ['1', '', '3'],
      ['', 'x', ''],
    ]);
  });

  it('reports ragged rows with their line numbers and keeps the good ones', () => {
    const parsed = parseCsv('a,b\n1,2\n3\n4,5,6\n"multi\nline",7\n8,9\n');
    expect(parsed.records.map((record) => record.values)).toEqual([
      ['1', '2'],
      ['multi\nline', '7'],
      ['8', '9'],
    ]);
    expect(parsed.problems).toEqual([
      { record: 2, line: 3, detail: '1 fields where the header has 2' },
      { record: 3, line: 4, detail: '3 fields where the header has 2' },
    ]);
  });

  it('reports stray quotes and an unclosed quoted field', () => {
    expect(parseCsv('a,b\nx"y,1\n').problems[0]).toMatchObject({ record: 1, line: 2, detail: expect.stringContaining('quote inside an unquoted field') });
    expect(parseCsv('a,b\n"x"y,1\n').problems[0]).toMatchObject({ line: 2, detail: expect.stringContaining('after a closing quote') });
    expect(parseCsv('a,b\n1,2\n"open,3\n4,5\n').problems).toEqual([{ record: 2, line: 3, detail: 'the quoted field opened on line 3 is never closed' }]);
  });

  it('refuses a header that is missing, duplicated, unnamed or too wide', () => {
    expect(thrown(() => parseCsv('')).status).toBe(422);
    expect(thrown(() => parseCsv('a,a\n1,2')).detail).toContain('twice');
    expect(thrown(() => parseCsv('a,,c\n1,2,3')).detail).toContain('Column 2');
    const wide = Array.from({ length: DATASET_LIMITS.columns + 1 }, (_, index) => `c${index}`).join(',');
    const error = thrown(() => parseCsv(`${wide}\n`));
    expect([error.status, error.code]).toEqual([422, 'dataset_too_many_columns']);
  });

  it('reports values PostgreSQL cannot keep exactly: over 64 KiB, NUL, a lone surrogate', () => {
    const big = 'é'.repeat(DATASET_LIMITS.fieldBytes / 2 + 1); // 2 bytes each in UTF-8: just over the limit
    const parsed = parseCsv(`a\n${big}\nok\nx\u0000y\n\uD800z\n\uD83D\uDE00\n`);
    expect(parsed.problems.map((problem) => [problem.line, problem.detail])).toEqual([
      [2, 'a field is larger than 64 KiB'],
      [4, 'a field contains a NUL character'],
      [5, 'a field contains an unpaired UTF-16 surrogate'],
    ]);
    expect(parsed.records.map((record) => record.values[0])).toEqual(['ok', '\uD83D\uDE00']);
  });

  it('refuses more than the record limit with 413', () => {
    const content = `a\n${'x\n'.repeat(DATASET_LIMITS.records + 1)}`;
    const error = thrown(() => parseCsv(content));
    expect([error.status, error.code]).toEqual([413, 'dataset_too_many_records']);
    expect(parseCsv(`a\n${'x\n'.repeat(DATASET_LIMITS.records)}`).records).toHaveLength(DATASET_LIMITS.records);
  });
});

describe('parseJsonl', () => {
  it('reads one object per line, skips blank lines, unions the keys and reports bad lines by number', () => {
    const parsed = parseJsonl('{"prompt":"a","n":1}\r\n\n  \n{"prompt":"b","extra":{"k":true}}\nnot json\n[1]\n{"prompt":null}\n');
    expect(parsed.columns).toEqual(['prompt', 'n', 'extra']);
    expect(parsed.records).toEqual([
      { record: 1, line: 1, values: ['a', '1', null] },
      { record: 2, line: 4, values: ['b', null, '{"k":true}'] },
      { record: 5, line: 7, values: [null, null, null] },
    ]);
    expect(parsed.problems).toEqual([
      { record: 3, line: 5, detail: 'the line is not valid JSON' },
      { record: 4, line: 6, detail: 'the record is neither an object nor a string, number or boolean' },
    ]);
  });

  it('treats a "__proto__" key as a column, never as a prototype', () => {
    const parsed = parseJsonl('{"__proto__":{"polluted":1},"prompt":"p"}');
    expect(parsed.columns).toEqual(['__proto__', 'prompt']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('parseJson with recordsPointer', () => {
  const garak = JSON.stringify({ garak_payload_name: 'x', payloads: ['one', 'two "quoted"', 3], 'a/b': { '~c': [{ prompt: 'deep' }] } });

  it('maps string records to a `value` column', () => {
    const parsed = parseJson(garak, '/payloads');
    expect(parsed.columns).toEqual(['value']);
    expect(parsed.records.map((record) => record.values)).toEqual([['one'], ['two "quoted"'], ['3']]);
  });

  it('follows RFC 6901 escapes and array indices', () => {
    expect(parseJson(garak, '/a~1b/~0c').records[0]!.values).toEqual(['deep']);
    expect(resolvePointer({ list: [{ x: 1 }] }, '/list/0/x')).toBe(1);
    expect(resolvePointer({ list: [] }, '/list/01')).toBeUndefined();
    expect(resolvePointer({ x: 1 }, 'x')).toBeUndefined();
  });

  it('refuses a pointer to nothing or to a non-array, with the pointer of the field at fault', () => {
    const missing = thrown(() => parseJson(garak, '/nope'));
    expect([missing.status, missing.errors?.[0]?.pointer]).toEqual([422, '/recordsPointer']);
    expect(thrown(() => parseJson(garak, '/garak_payload_name')).detail).toContain('not an array');
    expect(thrown(() => parseJson('{"a":', '')).code).toBe('dataset_unreadable');
  });

  it('uses the document itself when no pointer is given', () => {
    expect(parseJson('[{"p":"x"}]').records).toEqual([{ record: 1, values: ['x'] }]);
  });
});

describe('parseDataset', () => {
  it('refuses content over 8 MiB of UTF-8 with 413 before parsing', () => {
    const content = 'a\n' + 'é'.repeat(DATASET_LIMITS.contentBytes / 2);
    const error = thrown(() => parseDataset('csv', content));
    expect([error.status, error.code]).toEqual([413, 'dataset_too_large']);
  });

  it('accepts recordsPointer for json only', () => {
    expect(thrown(() => parseDataset('csv', 'a\n1', { recordsPointer: '/x' })).errors?.[0]?.pointer).toBe('/recordsPointer');
  });
});
