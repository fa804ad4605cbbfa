import { describe, expect, it } from 'vitest';
import { createTaxonomyService } from './taxonomies.service.js';
import { checkTaxonomyFiles, readTaxonomyFiles, type TaxonomyData } from './taxonomy-files.js';

/** A deep copy of the shipped files, changed by `edit`, must stop the service from being built. */
function rejects(edit: (files: TaxonomyData) => void, message: RegExp) {
  const files = structuredClone(checkTaxonomyFiles(readTaxonomyFiles()));
  edit(files);
  expect(() => createTaxonomyService(files)).toThrow(message);
}
/** Sets a field to a value its type does not allow (the point of these cases). */
const force = (object: object, key: string, value: unknown) => Object.assign(object, { [key]: value });

describe('malformed taxonomy data stops the start', () => {
  it('builds from the shipped files', () => {
    expect(() => createTaxonomyService(readTaxonomyFiles())).not.toThrow();
  });

  it('refuses shapes the schema does not allow', () => {
    rejects((f) => force(f.owasp, 'formatVersion', 2), /owasp-llm\.json is malformed/);
    rejects((f) => (f.owasp.editions['2026'][0]!.baseSeverity = 11), /owasp-llm\.json is malformed/);
    rejects((f) => force(f.owasp.crosswalks, '2025-2026', undefined), /owasp-llm\.json is malformed/);
    rejects((f) => force(f.atlas.techniques[0]!, 'unexpected', true), /mitre-atlas\.json is malformed/);
    rejects((f) => (f.atlas.techniques[0]!.description = 'x'.repeat(401)), /mitre-atlas\.json is malformed/);
    rejects((f) => (f.atlas.tactics[0]!.id = 'AML.T0000'), /mitre-atlas\.json is malformed/);
    rejects((f) => (f.aiRmf.subcategories[0]!.id = 'GOVERN: 1.1'), /nist-ai-rmf\.json is malformed/);
    rejects((f) => force(f, 'aiRmf', null), /nist-ai-rmf\.json is malformed/);
  });

  it('refuses inconsistent content', () => {
    rejects((f) => f.owasp.editions['2025'].push({ ...f.owasp.editions['2025'][0]! }), /"LLM01" is defined twice/);
    rejects((f) => (f.owasp.crosswalks['2023-2025'][0]!.to = 'LLM11'), /crosswalk 2023-2025 links LLM01 → LLM11/);
    rejects((f) => f.owasp.newIn2025.push('LLM01'), /LLM01 is new in 2025 but has a 2023 predecessor/);
    rejects((f) => (f.atlas.techniques.at(-1)!.parent = 'AML.T9999'), /unknown parent AML\.T9999/);
    rejects((f) => f.atlas.techniques[0]!.tactics.push('AML.TA0099'), /unknown tactic AML\.TA0099/);
    rejects((f) => (f.aiRmf.subcategories[0]!.function = 'Map'), /GOVERN 1\.1 is filed under Map/);
  });
});
