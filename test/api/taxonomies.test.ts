import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, bearer, createUserWithPassword, json, login, orgIdBySlug } from '../setup/identity-factory.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * The taxonomies through the built app (issue 7 §3): the list, one taxonomy with its nodes, one node
 * with its equivalents in the other OWASP editions, and the refusals. Embedded, and PostgreSQL + Redis
 * when configured.
 */

const VIEWER_PASSWORD = 'a patient viewer passphrase for tests 7';
let t: TestApp;
let rootToken: string;
let viewerToken: string;

const get = (url: string, headers: Record<string, string> = bearer(rootToken)) => t.app.inject({ method: 'GET', url, headers });

beforeAll(async () => {
  t = await createTestApp({ overrides: { runJobs: false } });
  rootToken = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  const viewer = await createUserWithPassword(t, 'taxonomy-viewer@example.test', VIEWER_PASSWORD);
  await addMember(t, await orgIdBySlug(t, 'default'), viewer, 'viewer');
  viewerToken = (await login(t, 'taxonomy-viewer@example.test', VIEWER_PASSWORD)).accessToken;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('GET /api/v1/taxonomies', () => {
  it('lists the five taxonomies with versions, sources and licences; 2026 is the default OWASP edition', async () => {
    const response = await get('/api/v1/taxonomies', bearer(viewerToken));
    expect(response.statusCode, response.body).toBe(200);
    const { items } = response.json<{ items: Array<{ id: string; version: string; nodeCount: number; isDefault: boolean; licence: string }> }>();
    expect(items.map((item) => [item.id, item.version, item.nodeCount])).toEqual([
      ['owasp-llm-2026', '2026', 10],
      ['owasp-llm-2025', '2025', 10],
      ['owasp-llm-2023', '2023', 10],
      ['mitre-atlas', '5.6.0', 186],
      ['nist-ai-rmf', '1.0', 72],
    ]);
    expect(items.filter((item) => item.isDefault).map((item) => item.id)).toEqual(['owasp-llm-2026']);
    expect(items.find((item) => item.id === 'owasp-llm-2025')!.licence).toBe('CC BY-SA 4.0');
  });

  it('answers one taxonomy with its nodes, filtered by kind', async () => {
    const owasp = await get('/api/v1/taxonomies/owasp-llm-2026');
    expect(owasp.statusCode, owasp.body).toBe(200);
    const body = owasp.json<{ id: string; nodes: Array<{ id: string; ref: string; title: string; baseSeverity: number }> }>();
    expect(body.id).toBe('owasp-llm-2026');
    expect(body.nodes).toHaveLength(10);
    expect(body.nodes.find((node) => node.id === 'LLM08')).toMatchObject({ ref: 'owasp-llm-2026:LLM08', title: 'Hidden Context Exposure', baseSeverity: 7 });

    const tactics = await get('/api/v1/taxonomies/mitre-atlas?kind=tactic');
    expect(tactics.statusCode, tactics.body).toBe(200);
    expect(tactics.json<{ nodes: unknown[] }>().nodes).toHaveLength(16);
    const subTechniques = await get('/api/v1/taxonomies/mitre-atlas?kind=sub-technique');
    expect(subTechniques.json<{ nodes: Array<{ parent: string }> }>().nodes.every((node) => node.parent.startsWith('AML.T'))).toBe(true);
    expect(subTechniques.json<{ nodes: unknown[] }>().nodes).toHaveLength(69);
    expect((await get('/api/v1/taxonomies/mitre-atlas?kind=galaxy')).statusCode).toBe(422);
    expect((await get('/api/v1/taxonomies/mitre-atlas?limit=5')).statusCode).toBe(422);
  });
});

describe('GET /api/v1/taxonomies/{taxonomyId}/nodes/{nodeId}', () => {
  it('answers an OWASP node with its equivalents in the other editions and how it moved', async () => {
    const response = await get('/api/v1/taxonomies/owasp-llm-2026/nodes/LLM08', bearer(viewerToken));
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      id: 'LLM08',
      ref: 'owasp-llm-2026:LLM08',
      taxonomyId: 'owasp-llm-2026',
      title: 'Hidden Context Exposure',
      kind: 'entry',
      baseSeverity: 7,
      equivalents: [
        {
          ref: 'owasp-llm-2025:LLM07',
          taxonomyId: 'owasp-llm-2025',
          title: 'System Prompt Leakage',
          relation: 'renamed and broadened: System Prompt Leakage became Hidden Context Exposure',
        },
      ],
    });
    const old = await get('/api/v1/taxonomies/owasp-llm-2023/nodes/LLM02');
    expect(old.json<{ equivalents: unknown[] }>().equivalents).toEqual([
      { ref: 'owasp-llm-2026:LLM10', taxonomyId: 'owasp-llm-2026', title: 'Improper Output Handling', relation: 'via owasp-llm-2025:LLM05: renamed, then same' },
      { ref: 'owasp-llm-2025:LLM05', taxonomyId: 'owasp-llm-2025', title: 'Improper Output Handling', relation: 'renamed' },
    ]);
  });

  it('answers ATLAS and AI RMF nodes (ids with dots and spaces) without equivalents', async () => {
    const technique = await get('/api/v1/taxonomies/mitre-atlas/nodes/AML.T0051.000');
    expect(technique.statusCode, technique.body).toBe(200);
    expect(technique.json()).toMatchObject({ ref: 'mitre-atlas:AML.T0051.000', kind: 'sub-technique', parent: 'AML.T0051', tactics: ['AML.TA0005'], equivalents: [] });
    const subcategory = await get('/api/v1/taxonomies/nist-ai-rmf/nodes/MEASURE%202.7');
    expect(subcategory.statusCode, subcategory.body).toBe(200);
    expect(subcategory.json()).toMatchObject({ ref: 'nist-ai-rmf:MEASURE 2.7', kind: 'subcategory', parent: 'MEASURE', equivalents: [] });
  });
});

describe('refusals', () => {
  it.each([
    ['an unknown taxonomy', '/api/v1/taxonomies/owasp-llm-2024'],
    ['an unknown taxonomy of a node', '/api/v1/taxonomies/owasp-llm-2024/nodes/LLM01'],
    ['an unknown node', '/api/v1/taxonomies/owasp-llm-2026/nodes/LLM11'],
    ['a node of another taxonomy', '/api/v1/taxonomies/owasp-llm-2026/nodes/AML.T0051'],
    ['a node id smuggling a second ref part', '/api/v1/taxonomies/owasp-llm-2026/nodes/LLM01%3ALLM02'],
  ])('%s answers 404 problem+json', async (_name, url) => {
    const response = await get(url);
    expect(response.statusCode, response.body).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('[ASVS 8.2.1] answers 401 without credentials and 403 to an API key without findings:read', async () => {
    for (const url of ['/api/v1/taxonomies', '/api/v1/taxonomies/owasp-llm-2026', '/api/v1/taxonomies/owasp-llm-2026/nodes/LLM01']) {
      const anonymous = await t.app.inject({ method: 'GET', url });
      expect(anonymous.statusCode, url).toBe(401);
      expect(anonymous.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...json, ...bearer(rootToken) }, payload: { name: 'orgs only', scopes: ['orgs:read'] } });
    expect(created.statusCode, created.body).toBe(201);
    const denied = await t.app.inject({ method: 'GET', url: '/api/v1/taxonomies', headers: { 'x-api-key': created.json<{ key: string }>().key } });
    expect(denied.statusCode, denied.body).toBe(403);
  });
});
