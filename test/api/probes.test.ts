import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/platform/errors.js';
import type { ProbeSelection } from '../../src/modules/probes/probe-contract.js';
import { readAudit } from '../setup/audit-trail.js';
import { addMember, bearer, createOrg, createUserWithPassword, login, orgIdBySlug } from '../setup/identity-factory.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * The built-in probe library through the API (issue 7 §1-2): GET /probes with its filters (category,
 * taxonomy ref of any OWASP edition, family, tag, default set) and cursor pages, GET /probes/{id}, and
 * a scan's probe selection resolved by the probes service (ids, categories, taxonomy, datasets, inline,
 * or nothing: the default set), each probe frozen with its version, mappings, scorers and chain.
 */

const PASSWORD = 'a long and unusual passphrase for probes 12';

interface Probe {
  id: string;
  name: string;
  category: string;
  family: string;
  goal: string;
  prompt: string;
  taxonomy: string[];
  complexity: string;
  impact: string;
  tags: string[];
  defaultScorers: Array<{ id: string; params?: unknown }>;
  defaultConverters: Array<{ id: string; params?: unknown }>;
  version: string;
  isDefault: boolean;
}

let t: TestApp;
let viewer: string;
let outsider: string;
let orgId: string;
let library: Probe[];

const get = (url: string, token = viewer) => t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: bearer(token) });

async function listAll(query: string, limit = 100): Promise<Probe[]> {
  const items: Probe[] = [];
  for (let cursor: string | null = '', pages = 0; cursor !== null; pages++) {
    expect(pages).toBeLessThan(50);
    const response = await get(`/probes?limit=${limit}${query ? `&${query}` : ''}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json<{ items: Probe[]; nextCursor: string | null }>();
    items.push(...page.items);
    cursor = page.nextCursor;
  }
  return items;
}

const select = (selection: ProbeSelection | undefined) => t.container.scans.probes.select(orgId, selection);

async function selectionProblems(selection: ProbeSelection): Promise<string[]> {
  try {
    await select(selection);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(422);
    return ((error as AppError).errors ?? []).map((problem) => problem.pointer);
  }
  throw new Error('expected a 422');
}

beforeAll(async () => {
  t = await createTestApp({ overrides: { runJobs: false } });
  orgId = await orgIdBySlug(t, 'default');
  const viewerId = await createUserWithPassword(t, 'viewer@probes.test', PASSWORD);
  const outsiderId = await createUserWithPassword(t, 'outsider@probes.test', PASSWORD);
  await addMember(t, orgId, viewerId, 'viewer');
  await createOrg(t, 'other-probes-org', [outsiderId]);
  viewer = (await login(t, 'viewer@probes.test', PASSWORD)).accessToken;
  outsider = (await login(t, 'outsider@probes.test', PASSWORD)).accessToken;
  library = await listAll('');
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('GET /probes: the current library version', () => {
  it('pages through every probe once, in library order, with its mappings, defaults and version', async () => {
    expect(library.length).toBeGreaterThanOrEqual(150);
    expect(new Set(library.map((probe) => probe.id)).size).toBe(library.length);
    expect(new Set(library.map((probe) => probe.version)).size).toBe(1);
    // Small pages walk the same list (the cursor carries version and position).
    expect((await listAll('', 7)).map((probe) => probe.id)).toEqual(library.map((probe) => probe.id));
    const leak = library.find((probe) => probe.id === 'system-prompt-leakage.direct-request.system-prompt')!;
    expect(leak).toMatchObject({ category: 'system-prompt-leakage', isDefault: true, complexity: expect.stringMatching(/^(low|medium|high)$/) });
    expect(leak.taxonomy).toContain('owasp-llm-2026:LLM08');
    expect(leak.defaultScorers.map((scorer) => scorer.id)).toContain('leak');
    expect(leak.goal.length).toBeGreaterThan(0);
  });

  it('filters by category, family, tag and the default set', async () => {
    const leakage = await listAll('category=system-prompt-leakage');
    expect(leakage.map((probe) => probe.id)).toEqual(library.filter((probe) => probe.category === 'system-prompt-leakage').map((probe) => probe.id));
    const family = library[0]!.family;
    expect((await listAll(`family=${family}`)).map((probe) => probe.id)).toEqual(library.filter((probe) => probe.family === family).map((probe) => probe.id));
    const defaults = await listAll('isDefault=true');
    expect(defaults.length).toBeGreaterThan(0);
    expect(defaults.map((probe) => probe.id)).toEqual(library.filter((probe) => probe.isDefault).map((probe) => probe.id));
    expect((await listAll('tag=default')).map((probe) => probe.id)).toEqual(defaults.map((probe) => probe.id));
    expect((await listAll('isDefault=false')).length).toBe(library.length - defaults.length);
  });

  it('filters by a taxonomy ref of any OWASP edition: LLM07 (2025) finds the probes mapped to LLM08 (2026)', async () => {
    const mapped2026 = library.filter((probe) => probe.taxonomy.includes('owasp-llm-2026:LLM08')).map((probe) => probe.id);
    expect(mapped2026.length).toBeGreaterThan(0);
    expect((await listAll(`taxonomy=${encodeURIComponent('owasp-llm-2025:LLM07')}`)).map((probe) => probe.id)).toEqual(mapped2026);
    expect((await listAll(`taxonomy=${encodeURIComponent('owasp-llm-2026:LLM08')}`)).map((probe) => probe.id)).toEqual(mapped2026);
    const atlas = library.filter((probe) => probe.taxonomy.includes('mitre-atlas:AML.T0051.000')).map((probe) => probe.id);
    expect((await listAll(`taxonomy=${encodeURIComponent('mitre-atlas:AML.T0051.000')}`)).map((probe) => probe.id)).toEqual(atlas);
  });

  it('an ATLAS technique finds the probes mapped to its sub-techniques', async () => {
    const underT0051 = library.filter((probe) => probe.taxonomy.some((ref) => ref === 'mitre-atlas:AML.T0051' || ref.startsWith('mitre-atlas:AML.T0051.'))).map((probe) => probe.id);
    expect(library.some((probe) => probe.taxonomy.includes('mitre-atlas:AML.T0051.001'))).toBe(true);
    expect(underT0051.length).toBeGreaterThan(library.filter((probe) => probe.taxonomy.includes('mitre-atlas:AML.T0051.000')).length);
    expect((await listAll(`taxonomy=${encodeURIComponent('mitre-atlas:AML.T0051')}`)).map((probe) => probe.id)).toEqual(underT0051);
  });

  it('[ASVS 2.2.1] refuses unknown filters, categories and taxonomy refs with 422', async () => {
    for (const query of ['category=pii', 'taxonomy=owasp-llm-2026:LLM99', 'taxonomy=LLM08', 'isDefault=perhaps', 'unknown=1']) {
      const response = await get(`/probes?${query}`);
      expect(response.statusCode, query).toBe(422);
      expect(response.headers['content-type']).toContain('application/problem+json');
    }
  });

  it('reads one probe; an unknown id is 404', async () => {
    const first = library[0]!;
    const response = await get(`/probes/${first.id}`);
    expect(response.statusCode).toBe(200);
    expect(response.json<Probe>()).toEqual(first);
    expect((await get('/probes/no.such.probe')).statusCode).toBe(404);
  });

  it('[ASVS 8.2.1] needs an authenticated caller; built-in probes are the same for every organisation, and reading them is not audited', async () => {
    const theirs = await get(`/probes/${library[0]!.id}`, outsider);
    expect(theirs.statusCode).toBe(200);
    expect(theirs.json<Probe>()).toEqual(library[0]);
    const requestId = 'probes-read-not-audited';
    const read = await t.app.inject({ method: 'GET', url: '/api/v1/probes?limit=5', headers: { ...bearer(viewer), 'x-request-id': requestId } });
    expect(read.statusCode).toBe(200);
    expect(await readAudit(t, { requestId })).toEqual([]);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/probes' })).statusCode).toBe(401);
  });
});

describe("a scan's probe selection", () => {
  it('with no selection runs the default set, frozen with version, family, taxonomy, complexity, scorers and chain', async () => {
    const probes = await select(undefined);
    const defaults = library.filter((probe) => probe.isDefault);
    expect(probes.map((probe) => probe.id)).toEqual(defaults.map((probe) => probe.id));
    const withChain = library.find((probe) => probe.defaultConverters.length > 0)!;
    const [frozen] = await select({ ids: [withChain.id] });
    expect(frozen).toEqual({
      id: withChain.id,
      name: withChain.name,
      category: withChain.category,
      prompt: withChain.prompt,
      objective: withChain.goal,
      source: { kind: 'library', version: withChain.version },
      family: withChain.family,
      taxonomy: withChain.taxonomy,
      complexity: withChain.complexity,
      scorers: withChain.defaultScorers,
      converters: withChain.defaultConverters.map((step) => ({ converter: step.id, ...(step.params === undefined ? {} : { params: step.params }) })),
    });
  });

  it('is the union of ids (request order), categories, taxonomy refs (any edition) and inline probes, each once', async () => {
    const leakage = library.filter((probe) => probe.category === 'system-prompt-leakage');
    const jailbreak = library.filter((probe) => probe.category === 'jailbreak');
    const lastLeak = leakage.at(-1)!;
    const probes = await select({
      ids: [lastLeak.id, jailbreak[0]!.id],
      categories: ['jailbreak'],
      taxonomy: ['owasp-llm-2025:LLM07'],
      inline: [{ name: 'mine', prompt: 'hello' }],
    });
    const llm08 = library.filter((probe) => probe.taxonomy.includes('owasp-llm-2026:LLM08'));
    const expected = [...new Set([lastLeak.id, jailbreak[0]!.id, ...jailbreak.map((probe) => probe.id), ...llm08.map((probe) => probe.id), 'inline.0'])];
    expect(probes.map((probe) => probe.id)).toEqual(expected);
    expect(probes.at(-1)).toEqual({ id: 'inline.0', name: 'mine', category: 'custom', prompt: 'hello', source: { kind: 'inline' } });
    // A 2025 ref selects exactly what its 2026 equivalent selects.
    expect((await select({ taxonomy: ['owasp-llm-2025:LLM07'] })).map((probe) => probe.id)).toEqual(llm08.map((probe) => probe.id));
  });

  it('refuses unknown ids, taxonomy refs and datasets with one 422 naming each, and an empty selection', async () => {
    expect(await selectionProblems({ ids: ['no.such.probe', library[0]!.id, 'other.missing'], taxonomy: ['owasp-llm-2026:LLM99'], datasets: ['0190a000-0000-7000-8000-00000000dead'] })).toEqual([
      '/probes/taxonomy/0',
      '/probes/ids/0',
      '/probes/ids/2',
      '/probes/datasets/0',
    ]);
    expect(await selectionProblems({})).toEqual(['/probes']);
  });
});
