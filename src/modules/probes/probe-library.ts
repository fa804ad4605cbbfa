import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Compile } from 'typebox/compile';
import { canonicalJson } from '../../platform/canonical-json.js';
import type { ConverterService } from '../converters/converters.service.js';
import type { ScorerService } from '../scorers/scorers.service.js';
import type { TaxonomyService } from '../taxonomies/taxonomy.types.js';
import { LibraryFile, type LibraryProbe } from './probe-contract.js';

/**
 * Reads and checks the built-in probe library (data/probes/library/*.json, format 2) before it is
 * seeded: the schema, one libraryVersion across files, unique ids, taxonomy refs that exist, scorer
 * parameters the scorer service accepts and converter chains that apply to their own prompt. A broken
 * library stops the start (and `npm run migrate`) instead of freezing a malformed probe into a plan.
 */

/** The tag that puts a probe in the default set (a scan that selects nothing runs these). */
export const DEFAULT_TAG = 'default';

export interface LibraryEntry extends LibraryProbe {
  /** File order across the library (files sorted by name): the order plans freeze probes in. */
  position: number;
  /** SHA-256 of the probe's canonical JSON. */
  contentHash: string;
  isDefault: boolean;
}

export interface ProbeLibrary {
  version: string;
  /** SHA-256 over every file's canonical JSON, by file name: any change needs a new libraryVersion. */
  contentHash: string;
  probes: LibraryEntry[];
}

export interface LibraryCheckDeps {
  taxonomies: Pick<TaxonomyService, 'isValidRef'>;
  scorers: Pick<ScorerService, 'validate'>;
  converters: Pick<ConverterService, 'apply'>;
}

export class ProbeLibraryError extends Error {
  constructor(readonly problems: string[]) {
    super(`The probe library (data/probes/library) is invalid: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` (and ${problems.length - 10} more)` : ''}`);
    this.name = 'ProbeLibraryError';
  }
}

// Compiled once: the interpreted check took ~0.4 s over the shipped library, on every start.
let compiled: ReturnType<typeof Compile<typeof LibraryFile>> | undefined;
const fileSchema = () => (compiled ??= Compile(LibraryFile));

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

function checkProbe(probe: LibraryProbe, at: string, deps: LibraryCheckDeps, problems: string[]) {
  probe.taxonomy.forEach((ref, index) => {
    if (!deps.taxonomies.isValidRef(ref)) problems.push(`${at}/taxonomy/${index}: "${ref}" is no node of the shipped taxonomies`);
  });
  if (!probe.taxonomy.some((ref) => ref.startsWith('owasp-llm-2026:'))) problems.push(`${at}/taxonomy: needs at least one owasp-llm-2026 ref`);
  probe.defaultScorers.forEach((config, index) => {
    for (const problem of deps.scorers.validate(config, `${at}/defaultScorers/${index}`)) problems.push(`${problem.pointer}: ${problem.detail}`);
  });
  try {
    const chain = probe.defaultConverters.map((step) => ({ converter: step.id, ...(step.params === undefined ? {} : { params: step.params }) }));
    deps.converters.apply(chain, probe.prompt, { seed: 0, pointer: `${at}/defaultConverters` });
  } catch (error) {
    const fieldErrors = (error as { errors?: Array<{ pointer: string; detail: string }> }).errors;
    problems.push(...(fieldErrors ?? [{ pointer: `${at}/defaultConverters`, detail: (error as Error).message }]).map((problem) => `${problem.pointer}: ${problem.detail}`));
  }
}

/** Checks parsed library files (name → content); throws ProbeLibraryError listing every problem. */
export function checkLibrary(files: ReadonlyArray<{ name: string; content: unknown }>, deps: LibraryCheckDeps): ProbeLibrary {
  const problems: string[] = [];
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (sorted.length === 0) problems.push('no library file');
  const versions = new Set<string>();
  const probes: LibraryEntry[] = [];
  const seen = new Map<string, string>();
  for (const { name, content } of sorted) {
    if (!fileSchema().Check(content)) {
      for (const error of [...fileSchema().Errors(content)].slice(0, 5)) problems.push(`${name}${error.instancePath || '/'}: ${error.message}`);
      continue;
    }
    versions.add(content.libraryVersion);
    content.probes.forEach((probe, index) => {
      const at = `${name}/probes/${index}`;
      const earlier = seen.get(probe.id);
      if (earlier) problems.push(`${at}: id "${probe.id}" is already defined at ${earlier}`);
      seen.set(probe.id, at);
      checkProbe(probe, at, deps, problems);
      probes.push({ ...probe, position: probes.length, contentHash: sha256(canonicalJson(probe)), isDefault: probe.tags?.includes(DEFAULT_TAG) ?? false });
    });
  }
  if (versions.size > 1) problems.push(`every file must carry the same libraryVersion (found ${[...versions].sort().join(', ')})`);
  if (problems.length === 0 && !probes.some((probe) => probe.isDefault)) problems.push(`no probe is tagged "${DEFAULT_TAG}" (the default set would be empty)`);
  if (problems.length > 0) throw new ProbeLibraryError(problems);
  const contentHash = sha256(canonicalJson(sorted.map(({ name, content }) => ({ name, content }))));
  return { version: [...versions][0]!, contentHash, probes };
}

export const LIBRARY_DIR = new URL('../../../data/probes/library/', import.meta.url);

/** Reads every *.json file of a library directory (same relative path from src/ under tsx and from dist/). */
export function readLibraryFiles(dir: URL = LIBRARY_DIR): Array<{ name: string; content: unknown }> {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the library directory shipped with the product (tests pass a fixture)
  const names = readdirSync(dir).filter((name) => name.endsWith('.json'));
  return names.map((name) => {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- a file listed in that directory
    const text = readFileSync(new URL(name, dir), 'utf8');
    try {
      return { name, content: JSON.parse(text) as unknown };
    } catch (error) {
      throw new ProbeLibraryError([`${name}: not JSON (${(error as Error).message})`]);
    }
  });
}
