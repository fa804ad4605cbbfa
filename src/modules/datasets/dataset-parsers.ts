import { jsonDepth } from '../../http/json-body.js';
import { AppError } from '../../platform/errors.js';

/**
 * Parsers for imported datasets (issue 7 §2): RFC 4180 CSV, JSON Lines and JSON (an array found by a
 * JSON pointer). Pure functions over the content string. A file-level fault (unreadable JSON, a bad
 * header, a limit) throws; a fault in one record becomes a problem with its line and record number,
 * so a preview can show every bad record at once.
 */

/** Import limits: a dataset is loaded whole in one request and one transaction. */
export const DATASET_LIMITS = {
  contentBytes: 8 * 1024 * 1024,
  records: 50_000,
  fieldBytes: 64 * 1024,
  columns: 200,
  /** Nesting of a JSON record or document (as for request bodies). */
  jsonDepth: 32,
} as const;

export const DATASET_FORMATS = ['csv', 'jsonl', 'json'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** A problem of one record; `line` is where the record starts (absent for JSON documents). */
export interface RecordProblem {
  record: number;
  line?: number;
  detail: string;
}

/** One source record: values aligned with `columns` (null: absent or JSON null). */
export interface SourceRecord {
  record: number;
  line?: number;
  values: (string | null)[];
}

export interface ParsedDataset {
  columns: string[];
  records: SourceRecord[];
  problems: RecordProblem[];
}

const fileError = (detail: string, code = 'dataset_unreadable', pointer = '/content') =>
  new AppError(422, code, { detail, errors: [{ in: 'body', pointer, detail }] });

const tooManyRecords = () =>
  new AppError(413, 'dataset_too_many_records', { detail: `A dataset holds at most ${DATASET_LIMITS.records} records.` });

const tooManyColumns = (count: number) =>
  fileError(`The data has ${count} columns; at most ${DATASET_LIMITS.columns} are accepted.`, 'dataset_too_many_columns');

// In a u-mode regex a surrogate pair is one code point, so \p{Cs} matches only a lone surrogate.
const LONE_SURROGATE = /\p{Cs}/u;

/** Why a value cannot be stored as it is (PostgreSQL text refuses NUL; a lone surrogate would be mangled). */
function valueFault(value: string): string | undefined {
  if (value.length > DATASET_LIMITS.fieldBytes || (value.length * 3 > DATASET_LIMITS.fieldBytes && Buffer.byteLength(value, 'utf8') > DATASET_LIMITS.fieldBytes)) {
    return `a field is larger than ${DATASET_LIMITS.fieldBytes / 1024} KiB`;
  }
  if (value.includes('\u0000')) return 'a field contains a NUL character';
  if (LONE_SURROGATE.test(value)) return 'a field contains an unpaired UTF-16 surrogate';
  return undefined;
}

/** Collects records and per-record problems, enforcing the record limit as it goes. */
function createSink(columns: string[]) {
  const records: SourceRecord[] = [];
  const problems: RecordProblem[] = [];
  let count = 0;
  return {
    /** Numbers the next record; throws once there are more than the limit. */
    next(): number {
      if (++count > DATASET_LIMITS.records) throw tooManyRecords();
      return count;
    },
    add(record: number, line: number | undefined, values: (string | null)[], fault?: string) {
      const problem = fault ?? values.map((value) => (value === null ? undefined : valueFault(value))).find((found) => found !== undefined);
      if (problem) problems.push({ record, ...(line === undefined ? {} : { line }), detail: problem });
      else records.push({ record, ...(line === undefined ? {} : { line }), values });
    },
    result: (): ParsedDataset => ({ columns, records, problems }),
  };
}

const stripBom = (content: string) => (content.charCodeAt(0) === 0xfeff ? content.slice(1) : content);

const COMMA = 0x2c;
const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/**
 * RFC 4180 with the usual tolerance: CRLF, LF or a lone CR end a record; quoted fields keep their
 * embedded commas, doubled quotes and line breaks byte for byte; blank lines are skipped. Line
 * numbers count physical lines, so a problem points at where its record starts.
 */
export function parseCsv(input: string): ParsedDataset {
  const content = stripBom(input);
  const length = content.length;
  let index = 0;
  let line = 1;
  let header: string[] | undefined;
  let sink: ReturnType<typeof createSink> | undefined;

  const newline = (at: number) => (content.charCodeAt(at) === CR && content.charCodeAt(at + 1) === LF ? 2 : 1);

  while (index < length) {
    const first = content.charCodeAt(index);
    if (first === LF || first === CR) {
      index += newline(index);
      line++;
      continue;
    }
    const startLine = line;
    const fields: string[] = [];
    let fault: string | undefined;
    for (;;) {
      let value: string;
      if (content.charCodeAt(index) === QUOTE) {
        const fieldLine = line;
        let segment = ++index;
        let closed = false;
        value = '';
        while (index < length) {
          const char = content.charCodeAt(index);
          if (char === QUOTE) {
            if (content.charCodeAt(index + 1) === QUOTE) {
              value += content.slice(segment, index + 1);
              index += 2;
              segment = index;
              continue;
            }
            value += content.slice(segment, index++);
            closed = true;
            break;
          }
          if (char === LF || (char === CR && content.charCodeAt(index + 1) !== LF)) line++;
          index++;
        }
        if (!closed) {
          value += content.slice(segment, index);
          fault ??= `the quoted field opened on line ${fieldLine} is never closed`;
        } else if (index < length && ![COMMA, LF, CR].includes(content.charCodeAt(index))) {
          fault ??= `line ${line}: text after a closing quote (a quote inside a field must be doubled)`;
          const start = index;
          while (index < length && ![COMMA, LF, CR].includes(content.charCodeAt(index))) index++;
          value += content.slice(start, index);
        }
      } else {
        const start = index;
        while (index < length) {
          const char = content.charCodeAt(index);
          if (char === COMMA || char === LF || char === CR) break;
          if (char === QUOTE) fault ??= `line ${line}: a quote inside an unquoted field`;
          index++;
        }
        value = content.slice(start, index);
      }
      fields.push(value);
      if (index >= length) break;
      if (content.charCodeAt(index) === COMMA) {
        index++;
        continue;
      }
      index += newline(index);
      line++;
      break;
    }

    if (!header) {
      if (fault) throw fileError(`The header row is not valid CSV: ${fault}.`);
      header = checkHeader(fields);
      sink = createSink(header);
      continue;
    }
    const record = sink!.next();
    if (!fault && fields.length !== header.length) fault = `${fields.length} fields where the header has ${header.length}`;
    sink!.add(record, startLine, fields, fault);
  }
  if (!sink) throw fileError('The content has no header row.');
  return sink.result();
}

function checkHeader(fields: string[]): string[] {
  if (fields.length > DATASET_LIMITS.columns) throw tooManyColumns(fields.length);
  const seen = new Set<string>();
  fields.forEach((name, position) => {
    if (name.trim() === '') throw fileError(`Column ${position + 1} of the header has no name.`);
    if (name.length > 200 || valueFault(name)) throw fileError(`Column ${position + 1} of the header is not a usable name.`);
    if (seen.has(name)) throw fileError(`The header names column "${name}" twice.`);
    seen.add(name);
  });
  return fields;
}

/** A JSON value as a column value: strings as they are, other scalars as their JSON text. */
const asValue = (value: unknown): string | null => (value === null || value === undefined ? null : typeof value === 'string' ? value : JSON.stringify(value));

/** Objects contribute their keys as columns (in order of first appearance); a scalar is the `value` column. */
function createJsonRecords() {
  const columns: string[] = [];
  const positions = new Map<string, number>();
  const sink = createSink(columns);
  const position = (name: string) => {
    let at = positions.get(name);
    if (at === undefined) {
      if (columns.length >= DATASET_LIMITS.columns) throw tooManyColumns(columns.length + 1);
      if (name.length > 200 || name.trim() === '' || valueFault(name)) return undefined;
      at = columns.push(name) - 1;
      positions.set(name, at);
    }
    return at;
  };
  return {
    add(item: unknown, line: number | undefined) {
      const record = sink.next();
      const values: (string | null)[] = [];
      if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') {
        values[position('value')!] = asValue(item);
      } else if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
        for (const [name, value] of Object.entries(item)) {
          const at = position(name);
          if (at === undefined) return sink.add(record, line, [], 'a key is not a usable column name');
          values[at] = asValue(value);
        }
      } else {
        return sink.add(record, line, [], 'the record is neither an object nor a string, number or boolean');
      }
      sink.add(record, line, values);
    },
    /** A record that could not be read at all. */
    fail(line: number | undefined, detail: string) {
      sink.add(sink.next(), line, [], detail);
    },
    result(): ParsedDataset {
      const parsed = sink.result();
      // Records seen before a later column appeared lack it: pad to the full width.
      for (const record of parsed.records) for (let at = 0; at < columns.length; at++) record.values[at] ??= null;
      return parsed;
    },
  };
}

/** JSON Lines: one JSON value per line; blank lines are skipped. */
export function parseJsonl(input: string): ParsedDataset {
  const lines = stripBom(input).split('\n');
  const records = createJsonRecords();
  lines.forEach((raw, at) => {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    if (jsonDepth(text) > DATASET_LIMITS.jsonDepth) return records.fail(at + 1, `the line is nested deeper than ${DATASET_LIMITS.jsonDepth} levels`);
    let item: unknown;
    try {
      item = JSON.parse(text);
    } catch {
      return records.fail(at + 1, 'the line is not valid JSON');
    }
    records.add(item, at + 1);
  });
  return records.result();
}

/** Resolves an RFC 6901 JSON pointer; undefined when it names nothing. */
export function resolvePointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  if (!pointer.startsWith('/')) return undefined;
  let current: unknown = document;
  for (const token of pointer.slice(1).split('/').map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))) {
    if (Array.isArray(current) && /^(0|[1-9][0-9]*)$/.test(token)) current = current[Number(token)];
    else if (current !== null && typeof current === 'object' && !Array.isArray(current) && Object.hasOwn(current, token)) current = (current as Record<string, unknown>)[token];
    else return undefined;
  }
  return current;
}

/** A JSON document whose records are the array at `recordsPointer` ('' : the document itself). */
export function parseJson(input: string, recordsPointer = ''): ParsedDataset {
  const content = stripBom(input);
  if (jsonDepth(content) > DATASET_LIMITS.jsonDepth) throw fileError(`The JSON is nested deeper than ${DATASET_LIMITS.jsonDepth} levels.`);
  let document: unknown;
  try {
    document = JSON.parse(content);
  } catch {
    throw fileError('The content is not valid JSON.');
  }
  const found = resolvePointer(document, recordsPointer);
  if (!Array.isArray(found)) {
    const detail = found === undefined ? `The pointer "${recordsPointer}" names nothing in the document.` : `The pointer "${recordsPointer}" names a value that is not an array.`;
    throw fileError(detail, 'dataset_records_not_found', '/recordsPointer');
  }
  if (found.length > DATASET_LIMITS.records) throw tooManyRecords();
  const records = createJsonRecords();
  for (const item of found) records.add(item, undefined);
  return records.result();
}

/** Parses content of a format, after the content size limit (UTF-8 bytes) is checked. */
export function parseDataset(format: DatasetFormat, content: string, options: { recordsPointer?: string | undefined } = {}): ParsedDataset {
  if (content.length > DATASET_LIMITS.contentBytes || Buffer.byteLength(content, 'utf8') > DATASET_LIMITS.contentBytes) {
    throw new AppError(413, 'dataset_too_large', { detail: `The content is larger than ${DATASET_LIMITS.contentBytes / 1024 / 1024} MiB.` });
  }
  if (options.recordsPointer !== undefined && format !== 'json') {
    throw fileError('`recordsPointer` applies to the json format only.', 'validation_failed', '/recordsPointer');
  }
  switch (format) {
    case 'csv':
      return parseCsv(content);
    case 'jsonl':
      return parseJsonl(content);
    case 'json':
      return parseJson(content, options.recordsPointer);
  }
}
