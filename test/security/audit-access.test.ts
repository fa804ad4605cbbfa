import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvCell } from '../../src/modules/audit/audit-query.service.js';
import { newId } from '../../src/platform/ids.js';
import { readAudit } from '../setup/audit-trail.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';
import { addMember, bearer, createOrg, createUserWithPassword, login, orgIdBySlug } from '../setup/identity-factory.js';

/**
 * Who may read the audit trail (issue 4 item 3): an organisation's auditors and admins read that
 * organisation only; platform-level events and other organisations are for platform auditors; a
 * viewer reads nothing. Escapes through `orgId`, `scope` or the organisation header are refused
 * (403, recorded as denied), not answered with an empty page. The CSV export defuses formulas.
 */

interface Item {
  id: string;
  orgId: string | null;
  action: string;
  actor: { id: string | null };
  resource: { id: string | null };
  userAgent: string | null;
  requestId: string | null;
}

const PASSWORD = 'a long enough passphrase for tests 31';
const ROUTES = ['/audit/events', '/audit/export', '/audit/stats'] as const;
let t: TestApp;
let seq = 0;
const email = (label: string) => `${label}.${++seq}@example.test`;
let orgA: string;
let orgB: string;
let auditorA: { id: string; token: string };
let adminA: { id: string; token: string };
let viewerA: { id: string; token: string };
let platformAuditor: { id: string; token: string };
let eventA: string;
let eventB: string;
let platformEvent: string;

const get = (url: string, token: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: bearer(token, headers) });

async function member(orgId: string, role: 'auditor' | 'viewer' | 'admin') {
  const address = email(role);
  const id = await createUserWithPassword(t, address, PASSWORD);
  await addMember(t, orgId, id, role);
  return { id, token: (await login(t, address, PASSWORD)).accessToken };
}

const items = async (url: string, token: string) => {
  const response = await get(url, token);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: Item[] }>().items;
};

const exportedLines = (body: string) => body.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Item);

beforeAll(async () => {
  t = await createTestApp();
  const owner = await createUserWithPassword(t, email('owner'), PASSWORD);
  orgA = await createOrg(t, `sec-a-${newId().slice(-6)}`, [owner]);
  orgB = await createOrg(t, `sec-b-${newId().slice(-6)}`, [owner]);
  auditorA = await member(orgA, 'auditor');
  adminA = await member(orgA, 'admin');
  viewerA = await member(orgA, 'viewer');
  const address = email('platform-auditor');
  const id = await createUserWithPassword(t, address, PASSWORD, { platformRole: 'auditor' });
  platformAuditor = { id, token: (await login(t, address, PASSWORD)).accessToken };
  const recorder = t.container.audit.recorder;
  eventA = await recorder.recordNow({ actor: { type: 'user', id: owner }, orgId: orgA }, { action: 'org.updated', resourceId: orgA });
  eventB = await recorder.recordNow({ actor: { type: 'user', id: owner }, orgId: orgB, ip: '192.0.2.99' }, { action: 'org.updated', resourceId: orgB });
  platformEvent = await recorder.recordNow({ actor: { type: 'system', id: 'policy-reload' } }, { action: 'policy.applied', resourceId: 'policy-1' });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('organisation scope', () => {
  it('[ASVS 16.4.2] an organisation auditor sees only their organisation: no other organisation, no platform-level event', async () => {
    for (const token of [auditorA.token, adminA.token]) {
      const seen = await items('/audit/events?limit=100', token);
      expect(seen.map((item) => item.id)).toContain(eventA);
      expect(seen.every((item) => item.orgId === orgA)).toBe(true);
      const exported = exportedLines((await get('/audit/export', token)).body);
      expect(exported.map((item) => item.id)).toContain(eventA);
      expect(exported.every((item) => item.orgId === orgA)).toBe(true);
      const stats = (await get('/audit/stats?action=org.updated', token)).json<{ total: number }>();
      expect(stats.total).toBe(1);
    }
    // Their reads are events of their organisation: its trail shows who read it.
    const reads = await items('/audit/events?action=audit.&limit=100', auditorA.token);
    expect(reads.filter((item) => item.actor.id === auditorA.id).map((item) => item.action)).toEqual(['audit.stats.read', 'audit.events.exported', 'audit.events.read']);
    // Filters that would match the other organisation's or the platform's events find nothing of them.
    expect(await items(`/audit/events?resourceId=${orgB}`, auditorA.token)).toEqual([]);
    expect(await items('/audit/events?action=policy.', auditorA.token)).toEqual([]);
  });

  it('[ASVS 8.2.2] orgId, scope=platform and the organisation header cannot widen an organisation auditor\'s scope', async () => {
    for (const route of ROUTES) {
      for (const query of [`orgId=${orgB}`, 'scope=platform', `orgId=${orgA}`, `scope=platform&orgId=${orgB}`]) {
        const response = await get(`${route}?${query}`, auditorA.token);
        expect(response.statusCode, `${route}?${query}`).toBe(403);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(response.json<{ code: string }>().code).toBe('audit_scope_forbidden');
        expect(response.body).not.toContain(eventB);
      }
      // Another organisation through the header: not theirs, so it does not exist for them.
      const viaHeader = await get(route, auditorA.token, { 'x-organization-id': orgB });
      expect(viaHeader.statusCode).toBe(404);
      expect(viaHeader.body).not.toContain(eventB);
    }
  });

  it('[ASVS 16.3.2] refused attempts to read beyond one\'s scope are themselves in the trail, as denied', async () => {
    const response = await get(`/audit/events?orgId=${orgB}`, auditorA.token);
    expect(response.statusCode).toBe(403);
    const events = await readAudit(t, { requestId: response.headers['x-request-id'] as string });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'audit.events.read', outcome: 'denied', actorId: auditorA.id, orgId: orgA, statusCode: 403 });
  });

  it('[ASVS 8.2.1] a viewer (no audit permission) cannot search, export or count the trail, and the refusal is audited', async () => {
    for (const route of ROUTES) {
      for (const query of ['', `?orgId=${orgA}`, '?scope=platform']) {
        const response = await get(`${route}${query}`, viewerA.token);
        expect(response.statusCode, `${route}${query}`).toBe(403);
        expect(response.body).not.toContain(eventA);
      }
    }
    const denied = await readAudit(t, { actorId: viewerA.id, outcome: 'denied' });
    expect(denied.map((event) => event.action).sort()).toEqual(
      [...Array(3).fill('audit.events.exported'), ...Array(3).fill('audit.events.read'), ...Array(3).fill('audit.stats.read')],
    );
  });
});

describe('platform scope', () => {
  it('[ASVS 16.4.2] a platform auditor reads platform-level events (and only those) with scope=platform', async () => {
    const seen = await items('/audit/events?scope=platform&limit=100', platformAuditor.token);
    expect(seen.map((item) => item.id)).toContain(platformEvent);
    expect(seen.every((item) => item.orgId === null)).toBe(true);
    expect(seen.map((item) => item.id)).not.toContain(eventA);
    const exported = exportedLines((await get('/audit/export?scope=platform&action=policy.applied&resourceType=policy&resourceId=policy-1', platformAuditor.token)).body);
    expect(exported.map((item) => item.id)).toEqual([platformEvent]);
    const stats = (await get('/audit/stats?scope=platform&action=policy.applied&resourceType=policy&resourceId=policy-1', platformAuditor.token)).json<{ total: number }>();
    expect(stats.total).toBe(1);
  });

  it('[ASVS 8.2.2] a platform auditor reads any one organisation by orgId, with its personal data', async () => {
    const seen = await items(`/audit/events?orgId=${orgB}`, platformAuditor.token);
    expect(seen.map((item) => item.id)).toEqual([eventB]);
    expect(seen[0]).toMatchObject({ orgId: orgB, clientIp: '192.0.2.99' });
  });

  it('[ASVS 8.2.2] without an active organisation a platform auditor must choose a scope; scope=platform with orgId is contradictory', async () => {
    const unscoped = await get('/audit/events', platformAuditor.token);
    expect(unscoped.statusCode).toBe(422);
    expect(unscoped.json<{ errors: Array<{ pointer: string }> }>().errors[0]!.pointer).toBe('/scope');
    expect((await get(`/audit/events?scope=platform&orgId=${orgA}`, platformAuditor.token)).statusCode).toBe(422);
  });

  it('[ASVS 16.4.2] the super-admin reads their active organisation by default and platform events on request', async () => {
    const root = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
    const defaultOrg = await orgIdBySlug(t, 'default');
    const own = await items('/audit/events?limit=100', root);
    expect(own.every((item) => item.orgId === defaultOrg)).toBe(true);
    expect((await items('/audit/events?scope=platform&action=policy.applied', root)).map((item) => item.id)).toContain(platformEvent);
  });
});

describe('CSV export', () => {
  it('[ASVS 1.2.10] neutralises spreadsheet formulas with a leading apostrophe, inside RFC 4180 quoting', async () => {
    const orgId = await createOrg(t, `csv-${newId().slice(-6)}`, []);
    const hostile = await t.container.audit.recorder.recordNow(
      { actor: { type: 'system', id: '@SUM(1+1)' }, orgId, requestId: '-2+3', userAgent: '=HYPERLINK("http://evil.test","x")' },
      { action: 'user.read', resourceId: '+cmd|calc' },
    );
    const csv = await get(`/audit/export?orgId=${orgId}&format=csv`, platformAuditor.token);
    expect(csv.statusCode, csv.body).toBe(200);
    const row = csv.body.split('\r\n')[1]!;
    expect(row.startsWith(hostile)).toBe(true);
    expect(row).toContain(`,'@SUM(1+1),`);
    expect(row).toContain(`,'+cmd|calc,`);
    expect(row).toContain(`,'-2+3,`);
    expect(row).toContain(`,"'=HYPERLINK(""http://evil.test"",""x"")",`);
    // No cell starts a formula: every field after a separator begins with something inert.
    expect(row).not.toMatch(/(^|,)"?[=+\-@\t\r]/);
    // JSON Lines is data, not a spreadsheet: values stay exactly as recorded.
    const jsonl = exportedLines((await get(`/audit/export?orgId=${orgId}`, platformAuditor.token)).body);
    expect(jsonl[0]).toMatchObject({ actor: { id: '@SUM(1+1)' }, requestId: '-2+3', userAgent: '=HYPERLINK("http://evil.test","x")', resource: { id: '+cmd|calc' } });
  });

  it('[ASVS 1.2.10] escapes every formula lead character (= + - @ tab CR NUL) and quotes per RFC 4180', () => {
    expect(['=1', '+1', '-1', '@a', '\tx', '\u0000x'].map(csvCell)).toEqual(["'=1", "'+1", "'-1", "'@a", "'\tx", "'\u0000x"]);
    expect(csvCell('\rx')).toBe(`"'\rx"`);
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('line\r\nbreak')).toBe('"line\r\nbreak"');
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell(null)).toBe('');
    expect(csvCell(404)).toBe('404');
  });
});
