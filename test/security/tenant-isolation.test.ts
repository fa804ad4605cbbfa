import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.js';
import { permissionsFor } from '../../src/modules/auth/permissions.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { addMember, bearer, createOrg, createUserWithPassword, json, login } from '../setup/identity-factory.js';
import { insertAttempts, setStatus } from '../setup/scan-rows.js';

/**
 * Cross-organisation access (issue 3 items 1 and 8): an owner of one organisation, with every
 * organisation permission there, addresses each resource of another organisation by its id and gets
 * 404 — never 403, never the resource, never a change. The route table is walked so that a new
 * organisation-scoped route with a path parameter cannot be added without a case here.
 */

const PASSWORD = 'an unremarkable but long passphrase 31';
let t: TestApp;
let mallory: string; // owner of org A: the attacker, with full organisation rights at home
let alice: string; // owner of org B: the victim organisation
let orgA: string;
let orgB: string;
let bKeyId: string;
let bInvitationId: string;
let bAlertId: string;
let bTargetId: string;
let bScanId: string; // running: cancel and pause would be allowed for its own organisation
let bPausedScanId: string; // paused: resume would be allowed
let bAttemptId: string;
let bFindingId: string;
let bDatasetId: string;

interface Case {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  route: string;
  url: () => string;
  payload?: () => Record<string, unknown>;
  headers?: Record<string, string>;
}

const cases: Case[] = [
  { method: 'GET', route: '/api/v1/orgs/:id', url: () => `/api/v1/orgs/${orgB}` },
  { method: 'PATCH', route: '/api/v1/orgs/:id', url: () => `/api/v1/orgs/${orgB}`, payload: () => ({ name: 'pwned', version: 1 }) },
  { method: 'DELETE', route: '/api/v1/orgs/:id', url: () => `/api/v1/orgs/${orgB}`, headers: { 'if-match': '"v1"' } },
  { method: 'GET', route: '/api/v1/orgs/:id/members', url: () => `/api/v1/orgs/${orgB}/members` },
  { method: 'PATCH', route: '/api/v1/orgs/:id/members/:userId', url: () => `/api/v1/orgs/${orgB}/members/${alice}`, payload: () => ({ role: 'viewer' }) },
  { method: 'DELETE', route: '/api/v1/orgs/:id/members/:userId', url: () => `/api/v1/orgs/${orgB}/members/${alice}` },
  { method: 'PUT', route: '/api/v1/orgs/:id/members/:userId/raw-content', url: () => `/api/v1/orgs/${orgB}/members/${alice}/raw-content` },
  { method: 'DELETE', route: '/api/v1/orgs/:id/members/:userId/raw-content', url: () => `/api/v1/orgs/${orgB}/members/${alice}/raw-content` },
  { method: 'GET', route: '/api/v1/orgs/:id/invitations', url: () => `/api/v1/orgs/${orgB}/invitations` },
  {
    method: 'POST',
    route: '/api/v1/orgs/:id/invitations',
    url: () => `/api/v1/orgs/${orgB}/invitations`,
    payload: () => ({ email: 'plant@example.test', role: 'viewer' }),
  },
  { method: 'DELETE', route: '/api/v1/orgs/:id/invitations/:invitationId', url: () => `/api/v1/orgs/${orgB}/invitations/${bInvitationId}` },
  { method: 'DELETE', route: '/api/v1/api-keys/:id', url: () => `/api/v1/api-keys/${bKeyId}` },
  { method: 'POST', route: '/api/v1/api-keys/:id/rotate', url: () => `/api/v1/api-keys/${bKeyId}/rotate`, payload: () => ({}) },
  { method: 'POST', route: '/api/v1/users/:id/unlock', url: () => `/api/v1/users/${alice}/unlock` },
  { method: 'POST', route: '/api/v1/audit/alerts/:id/acknowledge', url: () => `/api/v1/audit/alerts/${bAlertId}/acknowledge`, payload: () => ({}) },
  { method: 'GET', route: '/api/v1/targets/:id', url: () => `/api/v1/targets/${bTargetId}` },
  { method: 'PATCH', route: '/api/v1/targets/:id', url: () => `/api/v1/targets/${bTargetId}`, payload: () => ({ name: 'pwned', version: 1 }) },
  { method: 'DELETE', route: '/api/v1/targets/:id', url: () => `/api/v1/targets/${bTargetId}`, headers: { 'if-match': '"v1"' } },
  { method: 'GET', route: '/api/v1/targets/:id/versions', url: () => `/api/v1/targets/${bTargetId}/versions` },
  { method: 'GET', route: '/api/v1/targets/:id/credentials', url: () => `/api/v1/targets/${bTargetId}/credentials` },
  { method: 'POST', route: '/api/v1/targets/:id/test', url: () => `/api/v1/targets/${bTargetId}/test` },
  { method: 'PUT', route: '/api/v1/orgs/:id/mfa-policy', url: () => `/api/v1/orgs/${orgB}/mfa-policy`, payload: () => ({ requirement: 'optional' }) },
  { method: 'POST', route: '/api/v1/users/:id/mfa/reset', url: () => `/api/v1/users/${alice}/mfa/reset` },
  { method: 'DELETE', route: '/api/v1/users/:id/sessions', url: () => `/api/v1/users/${alice}/sessions` },
  { method: 'GET', route: '/api/v1/scans/:id', url: () => `/api/v1/scans/${bScanId}` },
  { method: 'POST', route: '/api/v1/scans/:id/cancel', url: () => `/api/v1/scans/${bScanId}/cancel` },
  { method: 'POST', route: '/api/v1/scans/:id/pause', url: () => `/api/v1/scans/${bScanId}/pause` },
  { method: 'POST', route: '/api/v1/scans/:id/resume', url: () => `/api/v1/scans/${bPausedScanId}/resume` },
  { method: 'GET', route: '/api/v1/scans/:id/attempts', url: () => `/api/v1/scans/${bScanId}/attempts` },
  { method: 'GET', route: '/api/v1/scans/:id/attempts/:attemptId', url: () => `/api/v1/scans/${bScanId}/attempts/${bAttemptId}` },
  { method: 'GET', route: '/api/v1/scans/:id/attempts/:attemptId/evidence', url: () => `/api/v1/scans/${bScanId}/attempts/${bAttemptId}/evidence` },
  // The 404 must come before the stream starts: a hijacked reply would never end (see the guard in the test).
  { method: 'GET', route: '/api/v1/scans/:id/events', url: () => `/api/v1/scans/${bScanId}/events`, headers: { accept: 'text/event-stream' } },
  { method: 'GET', route: '/api/v1/findings/:id', url: () => `/api/v1/findings/${bFindingId}` },
  { method: 'PATCH', route: '/api/v1/findings/:id', url: () => `/api/v1/findings/${bFindingId}`, payload: () => ({ status: 'confirmed', assigneeId: mallory }), headers: { 'if-match': '"v1"' } },
  { method: 'GET', route: '/api/v1/findings/:id/comments', url: () => `/api/v1/findings/${bFindingId}/comments` },
  { method: 'POST', route: '/api/v1/findings/:id/comments', url: () => `/api/v1/findings/${bFindingId}/comments`, payload: () => ({ body: 'planted' }) },
  { method: 'GET', route: '/api/v1/datasets/:id', url: () => `/api/v1/datasets/${bDatasetId}` },
  { method: 'GET', route: '/api/v1/datasets/:id/items', url: () => `/api/v1/datasets/${bDatasetId}/items` },
  { method: 'DELETE', route: '/api/v1/datasets/:id', url: () => `/api/v1/datasets/${bDatasetId}`, headers: { 'if-match': '"v1"' } },
];

/** Routes with a path parameter over data of no organisation (shipped reference data): every caller gets the same answer. */
const SHARED_REFERENCE: Array<{ route: string; url: string }> = [
  { route: 'GET /api/v1/taxonomies/:taxonomyId', url: '/api/v1/taxonomies/owasp-llm-2026' },
  { route: 'GET /api/v1/taxonomies/:taxonomyId/nodes/:nodeId', url: '/api/v1/taxonomies/owasp-llm-2026/nodes/LLM08' },
  { route: 'GET /api/v1/probes/:id', url: '/api/v1/probes/system-prompt-leakage.direct-request.system-prompt' },
];

const call = (token: string, c: Case, extra: Record<string, string> = {}) =>
  t.app.inject({
    method: c.method,
    url: c.url(),
    headers: { ...bearer(token), ...(c.payload ? json : {}), ...c.headers, ...extra },
    ...(c.payload ? { payload: c.payload() } : {}),
  });

beforeAll(async () => {
  // No jobs run (as in a server-mode API process): org B's scans keep the statuses set here.
  t = await createTestApp({ overrides: { runJobs: false } });
  mallory = await createUserWithPassword(t, 'mallory@example.test', PASSWORD);
  alice = await createUserWithPassword(t, 'alice@example.test', PASSWORD);
  orgA = await createOrg(t, 'org-a', [mallory]);
  orgB = await createOrg(t, 'org-b', [alice]);
  const aliceToken = (await login(t, 'alice@example.test', PASSWORD)).accessToken;
  const key = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...json, ...bearer(aliceToken) }, payload: { name: 'b key', scopes: ['orgs:read'] } });
  expect(key.statusCode, key.body).toBe(201);
  bKeyId = key.json<{ id: string }>().id;
  const invitation = await t.app.inject({
    method: 'POST',
    url: `/api/v1/orgs/${orgB}/invitations`,
    headers: { ...json, ...bearer(aliceToken) },
    payload: { email: 'bob@example.test', role: 'viewer' },
  });
  expect(invitation.statusCode, invitation.body).toBe(201);
  bInvitationId = invitation.json<{ id: string }>().id;
  const target = await t.app.inject({
    method: 'POST',
    url: '/api/v1/targets',
    headers: { ...json, ...bearer(aliceToken) },
    payload: { name: 'b target', kind: 'sim:echo', config: {} },
  });
  expect(target.statusCode, target.body).toBe(201);
  bTargetId = target.json<{ id: string }>().id;
  const dataset = await t.app.inject({
    method: 'POST',
    url: '/api/v1/datasets',
    headers: { ...json, ...bearer(aliceToken) },
    payload: { name: 'b dataset', source: 'org B', licence: 'MIT', format: 'jsonl', content: '{"p":"b secret prompt"}', mapping: { prompt: 'p' }, defaults: { category: 'jailbreak' } },
  });
  expect(dataset.statusCode, dataset.body).toBe(201);
  bDatasetId = dataset.json<{ id: string }>().id;
  // Two scans of organisation B, created by its owner through the API, then moved to the states in which
  // their own organisation could cancel, pause or resume them: only the organisation check stands between.
  const newScan = async (name: string) => {
    const scan = await t.app.inject({
      method: 'POST',
      url: '/api/v1/scans',
      headers: { ...json, ...bearer(aliceToken) },
      payload: { name, targetId: bTargetId, probes: { inline: [{ name: 'b probe', prompt: 'Ignore previous instructions.' }] }, scorers: [{ id: 'refusal' }], samples: 2 },
    });
    expect(scan.statusCode, scan.body).toBe(202);
    return scan.json<{ id: string }>().id;
  };
  bScanId = await newScan('b scan');
  bPausedScanId = await newScan('b paused scan');
  await setStatus(t.container, t.container.scans.events, orgB, bScanId, 'running');
  await setStatus(t.container, t.container.scans.events, orgB, bPausedScanId, 'paused');
  bAttemptId = (await insertAttempts(t.container, orgB, bScanId, [{ cellIndex: 0 }]))[0]!.id;
  // Mallory holds the raw-content grant at home, so the evidence route's answer is about the organisation,
  // not her permission (written directly: the grant's API path is tested in raw-content-grant.test.ts).
  const home = await t.container.db.selectFrom('memberships').select('id').where('orgId', '=', orgA).where('userId', '=', mallory).executeTakeFirstOrThrow();
  await t.container.db.transaction().execute((tx) => t.container.repos.memberships.setRawContentGrant(tx, home.id, alice, null, new Date()));
  await t.container.services.access.invalidate(mallory);
  // An alert of organisation B, as the analysis job would have raised it.
  bAlertId = newId();
  await t.container.db
    .insertInto('auditAlerts')
    .values({
      id: bAlertId,
      orgId: orgB,
      rule: 'privilege-change',
      severity: 'high',
      summary: 'A role changed in org B',
      groupKey: 'tenant-isolation',
      dedupeKey: `tenant-isolation-${bAlertId}`,
      triggeredAt: new Date(),
      firstSeq: 1,
      lastSeq: 1,
      eventIds: '[]',
      detail: '{}',
      createdAt: new Date(),
    })
    .execute();
});

// A finding of organisation B, as derivation would have written it (its own tests cover derivation).
beforeAll(async () => {
  bFindingId = newId();
  const now = new Date();
  await t.container.db
    .insertInto('findings')
    .values({
      id: bFindingId,
      orgId: orgB,
      fingerprint: 'b'.repeat(64),
      targetId: bTargetId,
      family: 'b.family',
      primaryRef: 'owasp-llm-2026:LLM08',
      taxonomyRefs: JSON.stringify(['owasp-llm-2026:LLM08']),
      objective: 'reveal the system prompt',
      title: 'b finding',
      category: 'system-prompt-leakage',
      complexity: 'low',
      severityScore: 7,
      severityLabel: 'high',
      firstSeenAt: now,
      lastSeenAt: now,
      occurrences: 1,
      trials: 1,
      lastScanId: bScanId,
      fixedAt: null,
      assigneeId: null,
      updatedBy: null,
      deletedAt: null,
      deletedBy: null,
    })
    .execute();
});

afterAll(async () => {
  await t?.close();
});

describe('tenant isolation', () => {
  it('[ASVS 8.4.1] covers every organisation-scoped route with a path parameter', () => {
    const orgPermissions = permissionsFor({ orgRole: 'owner', platformRole: null });
    const scoped = t.app
      .routeList()
      .filter((route) => route.url.includes(':'))
      .filter((route) => {
        const permission = (route.options.config as { access?: { permission?: string | string[] } } | undefined)?.access?.permission ?? [];
        return [permission].flat().some((candidate) => orgPermissions.has(candidate as never));
      })
      .flatMap((route) => route.methods.filter((method) => method !== 'HEAD').map((method) => `${method} ${route.url}`));
    const covered = new Set([...cases.map((c) => `${c.method} ${c.route}`), ...SHARED_REFERENCE.map((c) => c.route)]);
    expect(scoped.length).toBeGreaterThan(0);
    for (const route of scoped) expect(covered.has(route), `${route} has no cross-organisation case`).toBe(true);
  });

  it.each(cases.map((c) => [`${c.method} ${c.route}`, c] as const))("[ASVS 8.4.1] %s on another organisation's resource answers 404", async (_name, c) => {
    const token = (await login(t, 'mallory@example.test', PASSWORD)).accessToken;
    // A reply that started a stream (or otherwise never ends) fails here instead of hanging the file.
    let timer: NodeJS.Timeout | undefined;
    const response = await Promise.race([
      call(token, c),
      new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`${c.method} ${c.route} did not answer`)), 10_000))),
    ]).finally(() => clearTimeout(timer));
    expect(response.statusCode, response.body).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.body).not.toContain('alice');
    expect(response.body).not.toContain('org-b');
  });

  it.each(SHARED_REFERENCE.map((c) => [c.route, c] as const))('[ASVS 8.4.1] %s holds no organisation data: both organisations get the same answer', async (_name, c) => {
    const [home, other] = await Promise.all(
      ['mallory@example.test', 'alice@example.test'].map(async (email) => t.app.inject({ method: 'GET', url: c.url, headers: bearer((await login(t, email, PASSWORD)).accessToken) })),
    );
    expect(home!.statusCode, home!.body).toBe(200);
    expect(other!.body).toBe(home!.body);
  });

  it("[ASVS 8.4.1] leaves the other organisation's resources as they were", async () => {
    const org = await t.container.db.selectFrom('organisations').selectAll().where('id', '=', orgB).executeTakeFirstOrThrow();
    expect(org).toMatchObject({ name: 'org-b', version: 1, deletedAt: null });
    const membership = await t.container.db.selectFrom('memberships').selectAll().where('orgId', '=', orgB).where('userId', '=', alice).executeTakeFirstOrThrow();
    expect(membership).toMatchObject({ role: 'owner', deletedAt: null, rawContentGrantedAt: null });
    const key = await t.container.db.selectFrom('apiKeys').selectAll().where('id', '=', bKeyId).executeTakeFirstOrThrow();
    expect(key.revokedAt).toBeNull();
    const invitations = await t.container.db.selectFrom('emailTokens').selectAll().where('orgId', '=', orgB).execute();
    expect(invitations).toHaveLength(1);
    expect(invitations[0]).toMatchObject({ id: bInvitationId, revokedAt: null });
    const alert = await t.container.db.selectFrom('auditAlerts').selectAll().where('id', '=', bAlertId).executeTakeFirstOrThrow();
    expect(alert.acknowledgedAt).toBeNull();
    const target = await t.container.db.selectFrom('targets').selectAll().where('id', '=', bTargetId).executeTakeFirstOrThrow();
    expect(target).toMatchObject({ name: 'b target', version: 1, deletedAt: null });
    const tested = await t.container.db.selectFrom('auditEvents').select('id').where('action', '=', 'target.tested').where('orgId', '=', orgB).execute();
    expect(tested).toEqual([]);
    const scans = await t.container.db.selectFrom('scans').select(['id', 'status', 'statusReason', 'finishedAt']).where('orgId', '=', orgB).orderBy('id').execute();
    expect(scans).toHaveLength(2);
    expect(scans.find((scan) => scan.id === bScanId)).toMatchObject({ status: 'running', finishedAt: null });
    expect(scans.find((scan) => scan.id === bPausedScanId)).toMatchObject({ status: 'paused', finishedAt: null });
    const attempts = await t.container.db.selectFrom('attempts').select('id').where('scanId', '=', bScanId).execute();
    expect(attempts).toEqual([{ id: bAttemptId }]);
    const dataset = await t.container.db.selectFrom('datasets').select(['version', 'deletedAt']).where('id', '=', bDatasetId).executeTakeFirstOrThrow();
    expect(dataset).toEqual({ version: 1, deletedAt: null });
    // Nothing was recorded as done to org B's scans, and no raw content of theirs was read.
    const touched = await t.container.db
      .selectFrom('auditEvents')
      .select('action')
      .where('orgId', '=', orgB)
      .where('outcome', '=', 'success')
      .where('action', 'in', ['scan.cancelled', 'scan.paused', 'scan.resumed', 'evidence.read', 'attempt.read', 'attempt.list'])
      .execute();
    expect(touched).toEqual([]);
  });

  it('[ASVS 8.2.1] an organisation owner cannot take a backup of the whole database (platform-only route)', async () => {
    const token = (await login(t, 'mallory@example.test', PASSWORD)).accessToken;
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/admin/backups', headers: bearer(token) });
    expect(response.statusCode, response.body).toBe(403);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.rawPayload.includes(Buffer.from('VUTFBAK'))).toBe(false);
  });

  it('[ASVS 8.4.1] X-Organization-Id naming an organisation the caller does not belong to answers 404', async () => {
    const token = (await login(t, 'mallory@example.test', PASSWORD)).accessToken;
    for (const url of ['/api/v1/orgs', '/api/v1/api-keys', `/api/v1/orgs/${orgB}/members`]) {
      const response = await t.app.inject({ method: 'GET', url, headers: bearer(token, { 'x-organization-id': orgB }) });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(404);
    }
  });

  it("[ASVS 8.2.2] lists show only the caller's organisation", async () => {
    const token = (await login(t, 'mallory@example.test', PASSWORD)).accessToken;
    const orgs = await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: bearer(token) });
    expect(orgs.json<{ items: Array<{ id: string }> }>().items.map((org) => org.id)).toEqual([orgA]);
    const keys = await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(token) });
    expect(keys.json<{ items: unknown[] }>().items).toEqual([]);
    const members = await t.app.inject({ method: 'GET', url: `/api/v1/orgs/${orgA}/members`, headers: bearer(token) });
    expect(members.statusCode, members.body).toBe(200);
    expect(members.json<{ items: Array<{ id?: string; userId?: string }> }>().items.map((member) => member.userId ?? member.id)).toEqual([mallory]);
  });

  it('the same requests on her own organisation are not refused (the 404s above are not broken routes)', async () => {
    await addMember(t, orgA, alice, 'viewer');
    const token = (await login(t, 'mallory@example.test', PASSWORD)).accessToken;
    const own = await t.app.inject({ method: 'GET', url: `/api/v1/orgs/${orgA}/invitations`, headers: bearer(token) });
    expect(own.statusCode, own.body).toBe(200);
    const demote = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/orgs/${orgA}/members/${alice}`,
      headers: { ...json, ...bearer(token) },
      payload: { role: 'reviewer' },
    });
    expect(demote.statusCode, demote.body).toBe(200);
    // Org B's owner reads the same scan and attempt the cases above addressed: they exist.
    const aliceToken = (await login(t, 'alice@example.test', PASSWORD)).accessToken;
    for (const url of [`/api/v1/scans/${bScanId}`, `/api/v1/scans/${bScanId}/attempts/${bAttemptId}`]) {
      const response = await t.app.inject({ method: 'GET', url, headers: bearer(aliceToken, { 'x-organization-id': orgB }) });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
    }
  });
});

describe('tenant isolation of findings', () => {
  it("[ASVS 8.4.1] leaves the other organisation's finding unchanged, uncommented and unlisted", async () => {
    const finding = await t.container.db.selectFrom('findings').selectAll().where('id', '=', bFindingId).executeTakeFirstOrThrow();
    expect(finding).toMatchObject({ status: 'new', version: 1, assigneeId: null });
    expect(await t.container.db.selectFrom('findingComments').select('id').where('findingId', '=', bFindingId).execute()).toEqual([]);
    const token = (await login(t, 'mallory@example.test', PASSWORD)).accessToken;
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/findings', headers: bearer(token) });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json<{ items: unknown[] }>().items).toEqual([]);
  });
});
