import { errors, type FieldError } from '../../platform/errors.js';
import { PROBE_CATEGORIES, type ExploitComplexity, type ProbeCategory } from '../probes/probe-contract.js';
import type { TaxonomyService } from '../taxonomies/taxonomy.types.js';
import type { ParsedDataset, RecordProblem } from './dataset-parsers.js';

/**
 * Column mapping (issue 7 §2): which source column is the prompt, the objective, the item key and the
 * category; a filter that keeps some records; and the defaults every item inherits. Pure.
 */

export interface ColumnMapping {
  prompt: string;
  objective?: string | undefined;
  id?: string | undefined;
  category?: string | undefined;
  filter?: { column: string; equals?: string | undefined; in?: string[] | undefined } | undefined;
}

export interface DatasetDefaults {
  category: ProbeCategory;
  taxonomy?: string[] | undefined;
  complexity?: ExploitComplexity | undefined;
}

export interface MappingSpec {
  mapping: ColumnMapping;
  /** Source category value → probe category; unmapped values must already be probe categories. */
  categoryMap?: Record<string, ProbeCategory> | undefined;
  defaults: DatasetDefaults;
}

/** A record as it becomes a dataset item. */
export interface MappedItem {
  ordinal: number;
  record: number;
  line?: number;
  key: string;
  prompt: string;
  objective: string | null;
  category: ProbeCategory;
  taxonomy: string[];
  complexity: ExploitComplexity;
  /** The columns no mapping used, by name. */
  extra: Record<string, string | null>;
}

export interface MappingResult {
  totalRecords: number;
  items: MappedItem[];
  skipped: number;
  /** Parse and mapping problems, in record order. */
  problems: RecordProblem[];
}

export const ITEM_KEY_MAX_LENGTH = 200;
/** Bound of an item's unmapped columns as stored JSON (the migration checks the same). */
export const EXTRA_MAX_BYTES = 256 * 1024;

const isCategory = (value: string): value is ProbeCategory => (PROBE_CATEGORIES as readonly string[]).includes(value);

/**
 * Checks the mapping against the detected columns and the taxonomy data: every named column must
 * exist and every default ref must be a known node. All faults at once, as 422 with JSON pointers.
 */
export function checkMapping(spec: MappingSpec, columns: readonly string[], taxonomy: Pick<TaxonomyService, 'isValidRef'>): void {
  const faults: FieldError[] = [];
  const known = new Set(columns);
  const listed = columns.length > 20 ? `${columns.slice(0, 20).join(', ')}, ...` : columns.join(', ');
  const column = (pointer: string, name: string | undefined) => {
    if (name !== undefined && !known.has(name)) faults.push({ in: 'body', pointer, detail: `The data has no column "${name}" (columns: ${listed}).` });
  };
  const { mapping } = spec;
  column('/mapping/prompt', mapping.prompt);
  column('/mapping/objective', mapping.objective);
  column('/mapping/id', mapping.id);
  column('/mapping/category', mapping.category);
  if (mapping.filter) {
    column('/mapping/filter/column', mapping.filter.column);
    if ((mapping.filter.equals === undefined) === (mapping.filter.in === undefined)) {
      faults.push({ in: 'body', pointer: '/mapping/filter', detail: 'A filter needs exactly one of `equals` and `in`.' });
    }
  }
  if (spec.categoryMap && Object.keys(spec.categoryMap).length > 0 && mapping.category === undefined) {
    faults.push({ in: 'body', pointer: '/categoryMap', detail: '`categoryMap` needs `mapping.category` (the column it translates).' });
  }
  (spec.defaults.taxonomy ?? []).forEach((ref, index) => {
    if (!taxonomy.isValidRef(ref)) faults.push({ in: 'body', pointer: `/defaults/taxonomy/${index}`, detail: `"${ref}" is not a node of the shipped taxonomies.` });
  });
  if (faults.length > 0) throw errors.validation(faults);
}

/** Maps parsed records to items; a record that cannot become an item is a problem, one the filter drops is skipped. */
export function mapRecords(parsed: ParsedDataset, spec: MappingSpec): MappingResult {
  const at = new Map(parsed.columns.map((name, index) => [name, index]));
  const { mapping, defaults } = spec;
  const used = new Set([mapping.prompt, mapping.objective, mapping.id, mapping.category].filter((name): name is string => name !== undefined));
  const extraColumns = parsed.columns.map((name, index) => ({ name, index })).filter(({ name }) => !used.has(name));
  const valueOf = (values: readonly (string | null)[], name: string | undefined) => (name === undefined ? null : (values[at.get(name)!] ?? null));
  const filter = mapping.filter;
  const accepts = filter?.in ? new Set(filter.in) : undefined;
  const taxonomy = defaults.taxonomy ?? [];
  const complexity = defaults.complexity ?? 'medium';

  const items: MappedItem[] = [];
  const problems: RecordProblem[] = [...parsed.problems];
  let skipped = 0;
  for (const source of parsed.records) {
    const { values } = source;
    if (filter) {
      const value = valueOf(values, filter.column);
      if (value === null || (accepts ? !accepts.has(value) : value !== filter.equals)) {
        skipped++;
        continue;
      }
    }
    const problem = (detail: string) => problems.push({ record: source.record, ...(source.line === undefined ? {} : { line: source.line }), detail });
    const prompt = valueOf(values, mapping.prompt);
    if (prompt === null || prompt.trim() === '') {
      problem(`the prompt column "${mapping.prompt}" is empty`);
      continue;
    }
    const key = valueOf(values, mapping.id) ?? String(source.record);
    if (key.trim() === '' || key.length > ITEM_KEY_MAX_LENGTH) {
      problem(`the id column "${mapping.id ?? ''}" is empty or longer than ${ITEM_KEY_MAX_LENGTH} characters`);
      continue;
    }
    const sourceCategory = valueOf(values, mapping.category);
    const category = sourceCategory === null || sourceCategory.trim() === '' ? defaults.category : (spec.categoryMap && Object.hasOwn(spec.categoryMap, sourceCategory) ? spec.categoryMap[sourceCategory] : isCategory(sourceCategory) ? sourceCategory : undefined);
    if (category === undefined) {
      problem(`the category "${sourceCategory!.slice(0, 80)}" is neither in categoryMap nor a probe category`);
      continue;
    }
    const extra: Record<string, string | null> = {};
    for (const { name, index } of extraColumns) Object.defineProperty(extra, name, { value: values[index] ?? null, enumerable: true, writable: true, configurable: true });
    if (Buffer.byteLength(JSON.stringify(extra), 'utf8') > EXTRA_MAX_BYTES) {
      problem(`the unmapped columns together are larger than ${EXTRA_MAX_BYTES / 1024} KiB`);
      continue;
    }
    const objective = valueOf(values, mapping.objective);
    items.push({
      ordinal: items.length + 1,
      record: source.record,
      ...(source.line === undefined ? {} : { line: source.line }),
      key,
      prompt,
      objective: objective === null || objective.trim() === '' ? null : objective,
      category,
      taxonomy,
      complexity,
      extra,
    });
  }
  problems.sort((a, b) => a.record - b.record);
  return { totalRecords: parsed.records.length + parsed.problems.length, items, skipped, problems };
}

/** A problem as one line a person can act on. */
export const describeProblem = (problem: RecordProblem) =>
  `${problem.line === undefined ? '' : `line ${problem.line}, `}record ${problem.record}: ${problem.detail}`;
