import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAudit } from '../setup/audit-trail.js';
import { insertPlanScan, insertTarget, insertVerdicts, planProbe } from '../setup/finding-rows.js';
import { addMember, bearer, createUserWithPassword, json, login, orgIdBySlug } from '../setup/identity-factory.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Findings through the API (issue 7 §4): lists with filters (status, severity, target, a ref of any
 * OWASP edition), the detail with per-scan contributions and evidence ids, edition display, the triage
 * lifecycle with its 409s, assignees, encrypted comments and permissions. Jobs do not run in `t`:
 * findings come from scans and attempts written directly and derived as the job would.
 */

const PASSWORD = 'a findings api passphrase of some length 61';

let t: TestApp;
let orgId: string;
let rootId: string;
let root: string;
let reviewer: string;
let viewer: string;
let outsiderId: string;
let target: { id: string; versionId: string };
let leakId: string;
let injectionId: string;
let leakAttempts: string[];

interface Mapped {
  ref: string;
  title: string | null;
  relation: string | null;
}
interface Finding {
  id: string;
  status: string;
  targetId: string;
  assigneeId: string | null;
  primaryRef: string | null;
  taxonomyRefs: string[];
  severity: { score: number; label: string };
  mappings: { edition: string; primary: Mapped[]; refs: Mapped[] };
  occurrences: number;
  trials: number;
  lastSeenAt: string;
  fixedAt: string | null;
  reopenedCount: number;
  version: number;
  representativeAttemptIds?: string[];
  scans?: Array<{ scanId: string; succeeded: number; trials: number; representativeAttemptIds: string[] }>;
}

const send = (method: 'GET' | 'POST' | 'PATCH', url: string, token: string, payload?: object, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: { ...(payload ? json : {}), ...bearer(token), ...headers }, ...(payload ? { payload } : {}) });
const items = (response: { json: <T>() => T }) => response.json<{ items: Finding[]; nextCursor: string | null }>().items;
const patch = (id: string, version: number, body: object, token = reviewer) => send('PATCH', `/findings/${id}`, token, body, { 'if-match': `"v${version}"` });

beforeAll(async () => {
  t = await createTestApp({ overrides: { runJobs: false } });
  orgId = await orgIdBySlug(t, 'default');
  root = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  rootId = (await t.container.db.selectFrom('memberships').select('userId').where('orgId', '=', orgId).executeTakeFirstOrThrow()).userId;
  const reviewerId = await createUserWithPassword(t, 'reviewer@findings.test', PASSWORD);
  const viewerId = await createUserWithPassword(t, 'viewer@findings.test', PASSWORD);
  outsiderId = await createUserWithPassword(t, 'outsider@findings.test', PASSWORD);
  await addMember(t, orgId, reviewerId, 'reviewer');
  await addMember(t, orgId, viewerId, 'viewer');
  reviewer = (await login(t, 'reviewer@findings.test', PASSWORD)).accessToken;
  viewer = (await login(t, 'viewer@findings.test', PASSWORD)).accessToken;
  // One target, one scan: a system-prompt leak (LLM08, low complexity) and a prompt injection (LLM01, high).
  target = await insertTarget(t.container, orgId, rootId);
  const scan = await insertPlanScan(t.container, orgId, rootId, target, [
    planProbe('api.leak'),
    planProbe('api.injection', { category: 'prompt-injection', taxonomy: ['owasp-llm-2026:LLM01'], complexity: 'high', objective: 'Follow injected instructions' }),
  ]);
  const ids = await insertVerdicts(t.container, orgId, scan, [
    ['api.leak', 'succeeded'],
    ['api.leak', 'succeeded'],
    ['api.injection', 'succeeded'],
    ['api.injection', 'resisted'],
    ['api.injection', 'resisted'],
    ['api.injection', 'resisted'],
  ]);
  leakAttempts = ids.slice(0, 2);
  await t.container.findings.deriver.deriveScan(orgId, scan);
  const all = items(await send('GET', `/findings?targetId=${target.id}`, root));
  leakId = all.find((finding) => finding.primaryRef === 'owasp-llm-2026:LLM08')!.id;
  injectionId = all.find((finding) => finding.primaryRef === 'owasp-llm-2026:LLM01')!.id;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('GET /findings', () => {
  it('lists the organisation’s findings with severity, counts and a cursor', async () => {
    const first = await send('GET', `/findings?targetId=${target.id}&limit=1`, viewer);
    expect(first.statusCode, first.body).toBe(200);
    const page = first.json<{ items: Finding[]; nextCursor: string | null }>();
    expect(page.items).toHaveLength(1);
    const rest = await send('GET', `/findings?targetId=${target.id}&limit=1&cursor=${page.nextCursor}`, viewer);
    expect([...page.items, ...items(rest)].map((finding) => finding.id).sort()).toEqual([leakId, injectionId].sort());
    const leak = [...page.items, ...items(rest)].find((finding) => finding.id === leakId)!;
    expect(leak).toMatchObject({ status: 'new', occurrences: 2, trials: 2, targetId: target.id, assigneeId: null });
    expect(leak.severity.score).toBeGreaterThan(0);
  });

  it('filters by status, severity label and target', async () => {
    const injection = (await send('GET', `/findings/${injectionId}`, viewer)).json<Finding>();
    const bySeverity = items(await send('GET', `/findings?targetId=${target.id}&severity=${injection.severity.label}`, viewer));
    expect(bySeverity.map((finding) => finding.id)).toContain(injectionId);
    expect(bySeverity.every((finding) => finding.severity.label === injection.severity.label)).toBe(true);
    expect(items(await send('GET', `/findings?targetId=${target.id}&status=fixed`, viewer))).toEqual([]);
    expect(items(await send('GET', `/findings?targetId=0190a000-0000-7000-8000-00000000abcd`, viewer))).toEqual([]);
    expect((await send('GET', '/findings?severity=urgent', viewer)).statusCode).toBe(422);
  });

  it('matches a ref of any edition: the 2025 LLM07 finds the 2026 LLM08 finding, not the injection', async () => {
    for (const ref of ['owasp-llm-2025:LLM07', 'owasp-llm-2026:LLM08']) {
      const found = items(await send('GET', `/findings?targetId=${target.id}&taxonomy=${encodeURIComponent(ref)}`, viewer)).map((finding) => finding.id);
      expect(found, ref).toEqual([leakId]);
    }
    // Prompt injection is LLM01 in all three editions.
    const injection = items(await send('GET', `/findings?targetId=${target.id}&taxonomy=owasp-llm-2023:LLM01`, viewer)).map((finding) => finding.id);
    expect(injection).toEqual([injectionId]);
    expect((await send('GET', '/findings?taxonomy=LLM01', viewer)).statusCode).toBe(422);
  });

  it('shows mappings in the requested edition without re-running anything', async () => {
    const [in2025] = items(await send('GET', `/findings?targetId=${target.id}&taxonomy=owasp-llm-2026:LLM08&edition=2025`, viewer));
    expect(in2025!.mappings.edition).toBe('owasp-llm-2025');
    expect(in2025!.mappings.primary).toEqual([expect.objectContaining({ ref: 'owasp-llm-2025:LLM07', title: 'System Prompt Leakage' })]);
    expect(in2025!.primaryRef).toBe('owasp-llm-2026:LLM08');
    const in2026 = (await send('GET', `/findings/${leakId}`, viewer)).json<Finding>();
    expect(in2026.mappings).toMatchObject({ edition: 'owasp-llm-2026', primary: [{ ref: 'owasp-llm-2026:LLM08', title: 'Hidden Context Exposure', relation: null }] });
    // Non-OWASP refs are shown as stored in every edition.
    expect(in2025!.mappings.refs.map((entry) => entry.ref)).toContain('mitre-atlas:AML.T0051');
    // System-prompt leakage is new since 2025: the 2023 edition has no entry for it.
    const in2023 = (await send('GET', `/findings/${leakId}?edition=2023`, viewer)).json<Finding>();
    expect(in2023.mappings.primary).toEqual([]);
  });
});

describe('GET /findings/{id}', () => {
  it('answers per-scan contributions and representative attempts that resolve as evidence, and audits the read', async () => {
    const response = await send('GET', `/findings/${leakId}`, root, undefined, { 'x-request-id': 'findings-read-1' });
    expect(response.statusCode, response.body).toBe(200);
    const finding = response.json<Finding>();
    expect(response.headers.etag).toBe(`"v${finding.version}"`);
    expect(finding.representativeAttemptIds).toEqual(leakAttempts);
    expect(finding.scans).toEqual([expect.objectContaining({ succeeded: 2, trials: 2, representativeAttemptIds: leakAttempts })]);
    const attempt = await send('GET', `/scans/${finding.scans![0]!.scanId}/attempts/${leakAttempts[0]}`, root);
    expect(attempt.statusCode, attempt.body).toBe(200);
    expect(attempt.json<{ verdict: string }>().verdict).toBe('succeeded');
    expect(await readAudit(t, { requestId: 'findings-read-1' })).toMatchObject([{ action: 'finding.read', resourceId: leakId, outcome: 'success', actorId: rootId }]);
  });

  it('answers 404 problem+json for an unknown id', async () => {
    const response = await send('GET', '/findings/0190a000-0000-7000-8000-00000000abcd', viewer);
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('PATCH /findings/{id}: the triage lifecycle', () => {
  it('moves new → confirmed → in-progress → fixed → reopened and refuses other moves with 409', async () => {
    let version = (await send('GET', `/findings/${injectionId}`, reviewer)).json<Finding>().version;
    const refused = await patch(injectionId, version, { status: 'fixed' });
    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json<{ code: string }>().code).toBe('finding_transition_not_allowed');
    for (const status of ['confirmed', 'in-progress', 'fixed']) {
      const moved = await patch(injectionId, version, { status });
      expect(moved.statusCode, moved.body).toBe(200);
      expect(moved.json<Finding>().status).toBe(status);
      expect(moved.headers.etag).toBe(`"v${version + 1}"`);
      version += 1;
    }
    const fixed = (await send('GET', `/findings/${injectionId}`, reviewer)).json<Finding>();
    expect(fixed.fixedAt).not.toBeNull();
    expect((await patch(injectionId, version, { status: 'confirmed' })).statusCode).toBe(409);
    const reopened = await patch(injectionId, version, { status: 'reopened' });
    expect(reopened.statusCode, reopened.body).toBe(200);
    expect(reopened.json<Finding>()).toMatchObject({ status: 'reopened', reopenedCount: 1 });
    version += 1;
    expect((await patch(injectionId, version, { status: 'accepted-risk' })).statusCode).toBe(200);
    version += 1;
    // accepted-risk is final.
    for (const status of ['new', 'confirmed', 'reopened', 'fixed']) expect((await patch(injectionId, version, { status })).statusCode, status).toBe(409);
  });

  it('needs the current version: stale If-Match 412, stale body version 409, none 428', async () => {
    const current = (await send('GET', `/findings/${leakId}`, reviewer)).json<Finding>();
    expect((await patch(leakId, current.version + 5, { status: 'confirmed' })).statusCode).toBe(412);
    expect((await send('PATCH', `/findings/${leakId}`, reviewer, { status: 'confirmed', version: current.version + 5 })).statusCode).toBe(409);
    expect((await send('PATCH', `/findings/${leakId}`, reviewer, { status: 'confirmed' })).statusCode).toBe(428);
    expect((await send('GET', `/findings/${leakId}`, reviewer)).json<Finding>()).toMatchObject({ status: current.status, version: current.version });
  });

  it('assigns only members of the organisation (422 otherwise) and records the update', async () => {
    let { version } = (await send('GET', `/findings/${leakId}`, reviewer)).json<Finding>();
    const outsider = await patch(leakId, version, { assigneeId: outsiderId });
    expect(outsider.statusCode).toBe(422);
    expect(outsider.json<{ errors: Array<{ pointer: string }> }>().errors).toEqual([expect.objectContaining({ pointer: '/assigneeId' })]);
    const assigned = await send('PATCH', `/findings/${leakId}`, reviewer, { assigneeId: rootId }, { 'if-match': `"v${version}"`, 'x-request-id': 'findings-assign-1' });
    expect(assigned.statusCode, assigned.body).toBe(200);
    expect(assigned.json<Finding>()).toMatchObject({ assigneeId: rootId, status: 'new' });
    version += 1;
    expect(await readAudit(t, { requestId: 'findings-assign-1' })).toMatchObject([{ action: 'finding.updated', resourceId: leakId, outcome: 'success', changedFields: ['assigneeId'] }]);
    const cleared = await patch(leakId, version, { assigneeId: null });
    expect(cleared.json<Finding>().assigneeId).toBeNull();
  });

  it('[ASVS 8.2.1] a viewer reads findings but cannot triage or comment', async () => {
    const { version } = (await send('GET', `/findings/${leakId}`, viewer)).json<Finding>();
    expect((await patch(leakId, version, { status: 'confirmed' }, viewer)).statusCode).toBe(403);
    expect((await send('POST', `/findings/${leakId}/comments`, viewer, { body: 'not allowed' })).statusCode).toBe(403);
    expect((await send('GET', `/findings/${leakId}`, viewer)).json<Finding>().version).toBe(version);
  });
});

describe('comments', () => {
  it('[ASVS 14.2.4] adds and lists comments, stored as ciphertext only and never in the audit trail', async () => {
    const body = 'Reproduced with the staging key sk-live-TRIAGE-4471; rotate before fixing.';
    const created = await send('POST', `/findings/${leakId}/comments`, reviewer, { body });
    expect(created.statusCode, created.body).toBe(201);
    const comment = created.json<{ id: string; body: string; authorId: string; findingId: string }>();
    expect(comment).toMatchObject({ body, findingId: leakId });
    const list = await send('GET', `/findings/${leakId}/comments`, viewer);
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json<{ items: Array<{ id: string; body: string }> }>().items).toEqual([expect.objectContaining({ id: comment.id, body })]);
    const raw = await t.container.db.selectFrom('findingComments').select('body').where('id', '=', comment.id).executeTakeFirstOrThrow();
    expect(raw.body.includes(Buffer.from('sk-live-TRIAGE-4471'))).toBe(false);
    const [event] = await readAudit(t, { action: 'finding.commented', resourceId: leakId });
    expect(JSON.stringify(event)).not.toContain('TRIAGE');
  });

  it('bounds a comment at 10,000 characters', async () => {
    expect((await send('POST', `/findings/${leakId}/comments`, reviewer, { body: 'x'.repeat(10_001) })).statusCode).toBe(422);
    expect((await send('POST', `/findings/${leakId}/comments`, reviewer, { body: '' })).statusCode).toBe(422);
    expect((await send('POST', `/findings/${leakId}/comments`, reviewer, { body: 'x'.repeat(10_000) })).statusCode).toBe(201);
  });
});
