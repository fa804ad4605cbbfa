import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS } from '../../src/modules/audit/audit.catalogue.js';
import { createAuditRecorder, type AuditContext, type AuditEvent } from '../../src/modules/audit/audit.recorder.js';
import { createAuditRepo } from '../../src/modules/audit/audit.repo.js';
import type { AuditEventView } from '../../src/modules/audit/audit.schemas.js';
import { createAuditQueryRepo } from '../../src/modules/audit/audit-query.repo.js';
import { createAuditQueryService, EXPORT_BATCH_ROWS } from '../../src/modules/audit/audit-query.service.js';
import { createManualClock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';
import { readAudit } from '../setup/audit-trail.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { bearer, createOrg, createUserWithPassword, login } from '../setup/identity-factory.js';

/**
 * The audit API (issue 4 item 3): search with filters and cursor pagination, streamed export as
 * JSON Lines and CSV, statistics, and reading the trail being audited itself. Scoping and the CSV
 * injection defence are in test/security/audit-access.test.ts.
 */

type EventView = AuditEventView;
interface EventPage {
  items: EventView[];
  nextCursor: string | null;
}

const PASSWORD = 'a long enough passphrase for tests 31';
let t: TestApp;
let platformToken: string;
let seq = 0;
const email = (label: string) => `${label}.${++seq}@example.test`;

const get = (url: string, token: string) => t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: bearer(token) });

const record = (context: Partial<AuditContext> & { orgId: string }, event: AuditEvent) =>
  t.container.audit.recorder.recordNow({ actor: { type: 'user', id: newId() }, ip: '203.0.113.7', userAgent: 'audit-test/1.0', ...context }, event);

/** Records events at chosen times (the app keeps the real clock: tokens and sessions use it). */
function recorderAt(start: string) {
  const clock = createManualClock(new Date(start));
  return { clock, recorder: createAuditRecorder({ db: t.container.db, auditRepo: createAuditRepo({ cipher: t.container.cipher }), clock }) };
}

/** A fresh organisation with nobody in it (its trail holds only what a test records). */
const emptyOrg = async () => createOrg(t, `audit-${++seq}`, []);

async function walk(url: string, token: string): Promise<EventView[]> {
  const seen: EventView[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const response = await get(`${url}${cursor ? `&cursor=${cursor}` : ''}`, token);
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json<EventPage>();
    seen.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) return seen;
  }
  throw new Error('pagination did not end');
}

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF records) for round-trip checks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let row: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    const next = text[i + 1];
    if (quoted && char === '"' && next === '"') {
      field += '"';
      i++;
    } else if (char === '"') {
      quoted = !quoted;
    } else if (!quoted && char === ',') {
      row.push(field);
      field = '';
    } else if (!quoted && char === '\r' && next === '\n') {
      row.push(field);
      records.push(row);
      row = [];
      field = '';
      i++;
    } else {
      field += char;
    }
  }
  expect(field, 'the CSV ends with CRLF').toBe('');
  return records;
}

let platformAuditorId: string;

beforeAll(async () => {
  t = await createTestApp();
  const address = email('platform-auditor');
  platformAuditorId = await createUserWithPassword(t, address, PASSWORD, { platformRole: 'auditor' });
  platformToken = (await login(t, address, PASSWORD)).accessToken;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('GET /audit/events', () => {
  let orgId: string;
  const seeded: Array<{ id: string; actorId: string | null; actorType: string; action: string; resourceType: string; resourceId: string; outcome: string }> = [];
  const [u1, u2, key] = [newId(), newId(), newId()];

  beforeAll(async () => {
    orgId = await emptyOrg();
    const seeds: Array<[AuditContext['actor'], AuditEvent]> = [
      [{ type: 'user', id: u1 }, { action: 'user.read', resourceId: 'r-1' }],
      [{ type: 'anonymous', id: null }, { action: 'auth.login.failed', outcome: 'denied', resourceId: 'acct', subjectIndex: Buffer.alloc(32, 7) }],
      [{ type: 'user', id: u2 }, { action: 'auth.logout', resourceId: 's-1' }],
      [{ type: 'user', id: u1 }, { action: 'org.updated', outcome: 'error', resourceId: 'r-2', changed: ['name', 'slug'], statusCode: 500 }],
      [{ type: 'api-key', id: key, userId: u1 }, { action: 'api-key.created', resourceId: 'r-1', detail: { prefix: 'vutf_ab' } }],
      [{ type: 'user', id: u2 }, { action: 'user.read', resourceId: 'r-2', outcome: 'denied', statusCode: 403 }],
    ];
    for (const [actor, event] of seeds) {
      const id = await record({ orgId, actor }, event);
      seeded.push({ id, actorId: actor.id, actorType: actor.type, action: event.action, resourceType: AUDIT_ACTIONS[event.action].resource, resourceId: event.resourceId!, outcome: event.outcome ?? 'success' });
    }
  });

  const idsOf = (items: EventView[]) => items.map((item) => item.id);
  const expectedIds = (match: (event: (typeof seeded)[number]) => boolean) => seeded.filter(match).map((event) => event.id).reverse();

  it('answers every event newest first with actor, resource, decrypted address and agent, never the subject index', async () => {
    const response = await get(`/audit/events?orgId=${orgId}`, platformToken);
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json<EventPage>();
    expect(idsOf(page.items)).toEqual(expectedIds(() => true));
    const failed = page.items.find((item) => item.action === 'auth.login.failed')!;
    expect(Object.keys(failed).sort()).toEqual(
      ['action', 'actor', 'changedFields', 'clientIp', 'detail', 'id', 'occurredAt', 'orgId', 'outcome', 'requestId', 'resource', 'seq', 'statusCode', 'userAgent'],
    );
    expect(failed).toMatchObject({ actor: { type: 'anonymous', id: null, userId: null }, orgId, outcome: 'denied', clientIp: '203.0.113.7', userAgent: 'audit-test/1.0', seq: null });
    expect(response.body).not.toMatch(/subject/i);
    const apiKey = page.items.find((item) => item.action === 'api-key.created')!;
    expect(apiKey).toMatchObject({ actor: { type: 'api-key', id: key, userId: u1 }, resource: { type: 'api-key', id: 'r-1' }, detail: { prefix: 'vutf_ab' } });
    expect(page.items.find((item) => item.action === 'org.updated')).toMatchObject({ changedFields: ['name', 'slug'], statusCode: 500, outcome: 'error' });
  });

  it('filters by actor, action (exact or prefix), resource, outcome and actor type, each and combined', async () => {
    const cases: Array<[string, (event: (typeof seeded)[number]) => boolean]> = [
      [`actorId=${u1}`, (e) => e.actorId === u1],
      ['actorType=api-key', (e) => e.actorType === 'api-key'],
      ['action=user.read', (e) => e.action === 'user.read'],
      ['action=auth.', (e) => e.action.startsWith('auth.')],
      ['action=auth.login.', (e) => e.action.startsWith('auth.login.')],
      ['resourceType=user', (e) => e.resourceType === 'user'],
      ['resourceId=r-1', (e) => e.resourceId === 'r-1'],
      ['resourceType=user&resourceId=r-2', (e) => e.resourceType === 'user' && e.resourceId === 'r-2'],
      ['outcome=denied', (e) => e.outcome === 'denied'],
      [`actorId=${u1}&outcome=error`, (e) => e.actorId === u1 && e.outcome === 'error'],
      ['action=auth.&outcome=success', (e) => e.action.startsWith('auth.') && e.outcome === 'success'],
      [`actorId=${u2}&action=user.read&outcome=denied&resourceId=r-2`, (e) => e.actorId === u2 && e.action === 'user.read' && e.outcome === 'denied'],
      ['action=user.', (e) => e.action.startsWith('user.')],
      ['action=user', () => false],
    ];
    for (const [query, match] of cases) {
      const response = await get(`/audit/events?orgId=${orgId}&${query}`, platformToken);
      expect(response.statusCode, `${query}: ${response.body}`).toBe(200);
      expect(idsOf(response.json<EventPage>().items), query).toEqual(expectedIds(match));
    }
  });

  it('filters by time range: from inclusive, to exclusive', async () => {
    const timedOrg = await emptyOrg();
    const { clock, recorder } = recorderAt('2026-03-01T10:00:00Z');
    const ids: string[] = [];
    for (const outcome of ['success', 'denied', 'success', 'denied', 'success'] as const) {
      ids.push(await recorder.recordNow({ actor: { type: 'system', id: 'timed' }, orgId: timedOrg }, { action: 'user.read', outcome }));
      clock.advance(3_600_000);
    }
    const range = await get(`/audit/events?orgId=${timedOrg}&from=2026-03-01T11:00:00Z&to=2026-03-01T14:00:00Z`, platformToken);
    expect(range.statusCode, range.body).toBe(200);
    expect(idsOf(range.json<EventPage>().items)).toEqual([ids[3], ids[2], ids[1]]);
    const from = await get(`/audit/events?orgId=${timedOrg}&from=2026-03-01T13:00:00.000Z`, platformToken);
    expect(idsOf(from.json<EventPage>().items)).toEqual([ids[4], ids[3]]);
    const to = await get(`/audit/events?orgId=${timedOrg}&to=2026-03-01T11:00:00Z&outcome=success`, platformToken);
    expect(idsOf(to.json<EventPage>().items)).toEqual([ids[0]]);
    const combined = await get(`/audit/events?orgId=${timedOrg}&from=2026-03-01T11:00:00Z&outcome=denied`, platformToken);
    expect(idsOf(combined.json<EventPage>().items)).toEqual([ids[3], ids[1]]);
  });

  it('walks every page once, newest first, without duplicates; bad cursors and limits are refused', async () => {
    const pagedOrg = await emptyOrg();
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) ids.push(await record({ orgId: pagedOrg }, { action: 'user.read', resourceId: `p-${i}` }));
    const seen = await walk(`/audit/events?orgId=${pagedOrg}&limit=5`, platformToken);
    expect(seen.map((item) => item.id)).toEqual([...ids].reverse());
    expect(new Set(seen.map((item) => item.id)).size).toBe(23);

    const filtered = await walk(`/audit/events?orgId=${pagedOrg}&limit=2&resourceId=p-3`, platformToken);
    expect(filtered.map((item) => item.id)).toEqual([ids[3]]);

    for (const forged of ['bm90LWEtY3Vyc29y', Buffer.from('["not-a-uuid"]').toString('base64url'), Buffer.from('[42]').toString('base64url')]) {
      expect((await get(`/audit/events?orgId=${pagedOrg}&cursor=${forged}`, platformToken)).statusCode, forged).toBe(400);
    }
    expect((await get(`/audit/events?orgId=${pagedOrg}&limit=101`, platformToken)).statusCode).toBe(422);
    expect((await get(`/audit/events?orgId=${pagedOrg}&outcome=maybe`, platformToken)).statusCode).toBe(422);
    expect((await get(`/audit/events?orgId=${pagedOrg}&action=AUTH%25`, platformToken)).statusCode).toBe(422);
    expect((await get(`/audit/events?orgId=${pagedOrg}&from=yesterday`, platformToken)).statusCode).toBe(422);
  });

  it('records each read of the trail as audit.events.read, durable before the response', async () => {
    const response = await get(`/audit/events?orgId=${orgId}&limit=1`, platformToken);
    expect(response.statusCode).toBe(200);
    const events = await readAudit(t, { action: 'audit.events.read', requestId: response.headers['x-request-id'] as string });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actorType: 'user', actorId: platformAuditorId, outcome: 'success', statusCode: 200, resourceType: 'audit-trail' });
  });
});

describe('GET /audit/stats', () => {
  it('counts by action, outcome, actor type and UTC day over a bounded range, and is audited', async () => {
    const orgId = await emptyOrg();
    const user = newId();
    const plan: Array<[AuditContext['actor'], AuditEvent]> = [
      [{ type: 'user', id: user }, { action: 'user.read' }],
      [{ type: 'user', id: user }, { action: 'user.read', outcome: 'denied' }],
      [{ type: 'api-key', id: 'k' }, { action: 'api-key.list' }],
      [{ type: 'system', id: 'job' }, { action: 'policy.applied', outcome: 'error' }],
    ];
    for (const [actor, event] of plan) await record({ orgId, actor }, event);
    const response = await get(`/audit/stats?orgId=${orgId}`, platformToken);
    expect(response.statusCode, response.body).toBe(200);
    const stats = response.json<{ from: string; to: string; total: number; byAction: unknown[]; byOutcome: unknown[]; byActorType: unknown[]; perDay: Array<{ day: string; count: number }> }>();
    expect(stats.total).toBe(4);
    expect(stats.byAction).toEqual([{ action: 'user.read', count: 2 }, { action: 'api-key.list', count: 1 }, { action: 'policy.applied', count: 1 }]);
    expect(stats.byOutcome).toEqual([{ outcome: 'success', count: 2 }, { outcome: 'denied', count: 1 }, { outcome: 'error', count: 1 }]);
    expect(stats.byActorType).toEqual([{ actorType: 'user', count: 2 }, { actorType: 'api-key', count: 1 }, { actorType: 'system', count: 1 }]);
    expect(stats.perDay.reduce((sum, day) => sum + day.count, 0)).toBe(4);
    expect(new Date(stats.to).getTime() - new Date(stats.from).getTime()).toBe(30 * 86_400_000);

    const filtered = (await get(`/audit/stats?orgId=${orgId}&outcome=success`, platformToken)).json<{ total: number }>();
    expect(filtered.total).toBe(2);
    const past = (await get(`/audit/stats?orgId=${orgId}&from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z`, platformToken)).json<{ total: number; perDay: unknown[] }>();
    expect(past).toMatchObject({ total: 0, perDay: [] });

    // Days are UTC calendar days, oldest first.
    const { clock, recorder } = recorderAt('2026-03-01T23:30:00Z');
    for (const step of [0, 40 * 60_000, 5 * 3_600_000]) {
      clock.advance(step);
      await recorder.recordNow({ actor: { type: 'system', id: 'daily' }, orgId }, { action: 'user.read' });
    }
    const days = (await get(`/audit/stats?orgId=${orgId}&from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z`, platformToken)).json<{ perDay: unknown[] }>();
    expect(days.perDay).toEqual([{ day: '2026-03-01', count: 1 }, { day: '2026-03-02', count: 2 }]);

    expect((await get(`/audit/stats?orgId=${orgId}&from=2020-01-01T00:00:00Z&to=2020-06-01T00:00:00Z`, platformToken)).statusCode).toBe(422);
    expect((await get(`/audit/stats?orgId=${orgId}&from=2020-02-01T00:00:00Z&to=2020-01-01T00:00:00Z`, platformToken)).statusCode).toBe(422);
    expect(await readAudit(t, { action: 'audit.stats.read', requestId: response.headers['x-request-id'] as string })).toHaveLength(1);
  });
});

describe('GET /audit/export', () => {
  let orgId: string;
  const ids: string[] = [];

  beforeAll(async () => {
    orgId = await emptyOrg();
    for (let i = 0; i < 12; i++) {
      ids.push(await record({ orgId, userAgent: `agent, "quoted"\r\nline ${i}` }, { action: i % 3 === 0 ? 'auth.logout' : 'user.read', resourceId: `x-${i}`, changed: ['a', 'b'], detail: { n: i, note: 'comma, quote "' } }));
    }
  });

  it('streams JSON Lines as an attachment that round-trips to the search results, and is audited', async () => {
    const response = await get(`/audit/export?orgId=${orgId}&format=jsonl`, platformToken);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/x-ndjson/);
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="audit-events-[0-9a-f-]+-\d{8}T\d{6}Z\.jsonl"$/);
    expect(response.headers['x-export-truncated']).toBe('false');
    const lines = response.body.split('\n');
    expect(lines.pop()).toBe('');
    const exported = lines.map((line) => JSON.parse(line) as EventView);
    const searched = await walk(`/audit/events?orgId=${orgId}&limit=100`, platformToken);
    expect(exported).toEqual(searched);
    expect(exported.map((item) => item.id)).toEqual([...ids].reverse());
    expect(await readAudit(t, { action: 'audit.events.exported', requestId: response.headers['x-request-id'] as string })).toHaveLength(1);
  });

  it('streams RFC 4180 CSV whose cells round-trip (quotes, commas, line breaks)', async () => {
    const response = await get(`/audit/export?orgId=${orgId}&format=csv&action=auth.logout`, platformToken);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/csv/);
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename=".*\.csv"$/);
    const [header, ...rows] = parseCsv(response.body);
    expect(header).toEqual(['id', 'seq', 'occurredAt', 'actorType', 'actorId', 'actorUserId', 'orgId', 'action', 'resourceType', 'resourceId', 'outcome', 'statusCode', 'requestId', 'clientIp', 'userAgent', 'changedFields', 'detail']);
    const expected = [9, 6, 3, 0];
    expect(rows.map((row) => row[0])).toEqual(expected.map((i) => ids[i]));
    const cell = (row: string[], name: string) => row[header!.indexOf(name)];
    rows.forEach((row, index) => {
      expect(cell(row, 'action')).toBe('auth.logout');
      expect(cell(row, 'userAgent')).toBe(`agent, "quoted"\r\nline ${expected[index]}`);
      expect(cell(row, 'clientIp')).toBe('203.0.113.7');
      expect(cell(row, 'seq')).toBe('');
      expect(JSON.parse(cell(row, 'detail')!)).toEqual({ n: expected[index], note: 'comma, quote "' });
      expect(JSON.parse(cell(row, 'changedFields')!)).toEqual(['a', 'b']);
    });
  });

  it('exports at most `limit` rows (newest kept, truncation announced) and refuses a cap or range beyond the bounds', async () => {
    const capped = await get(`/audit/export?orgId=${orgId}&limit=5`, platformToken);
    expect(capped.headers['x-export-truncated']).toBe('true');
    expect(capped.body.trim().split('\n').map((line) => (JSON.parse(line) as EventView).id)).toEqual([...ids].reverse().slice(0, 5));
    const exact = await get(`/audit/export?orgId=${orgId}&limit=12`, platformToken);
    expect(exact.headers['x-export-truncated']).toBe('false');
    expect(exact.body.trim().split('\n')).toHaveLength(12);

    expect((await get(`/audit/export?orgId=${orgId}&limit=100001`, platformToken)).statusCode).toBe(422);
    expect((await get(`/audit/export?orgId=${orgId}&from=2020-01-01T00:00:00Z&to=2020-04-03T00:00:01Z`, platformToken)).statusCode).toBe(422);
    expect((await get(`/audit/export?orgId=${orgId}&format=xlsx`, platformToken)).statusCode).toBe(422);
    const head = await t.app.inject({ method: 'HEAD', url: `/api/v1/audit/export?orgId=${orgId}&limit=5`, headers: bearer(platformToken) });
    expect(head.statusCode).toBe(200);
    expect(head.headers).toMatchObject({ 'x-export-truncated': 'true', 'content-disposition': expect.stringMatching(/^attachment/) });
    expect(head.body).toBe('');
    const old = await get(`/audit/export?orgId=${orgId}&from=2020-01-01T00:00:00Z&to=2020-04-02T00:00:00Z`, platformToken);
    expect(old.statusCode).toBe(200);
    expect(old.body).toBe('');
  });

  it('with `to` left out, an export and a search include events of the current millisecond', async () => {
    const org = await emptyOrg();
    const { clock, recorder } = recorderAt('2026-03-01T10:00:00.000Z');
    await t.container.db.transaction().execute((tx) => recorder.record(tx, { actor: { type: 'system', id: 'same-ms' }, orgId: org }, { action: 'user.read', resourceId: 'same-ms' }));
    // The clock has not moved: the request's "now" is the event's own millisecond.
    const service = createAuditQueryService({ db: t.container.db, clock, auditQueryRepo: createAuditQueryRepo({ cipher: t.container.cipher }) });
    const principal = { type: 'user' as const, id: platformAuditorId, userId: platformAuditorId, permissions: new Set(['platform:audit:read']) };
    const exported = await service.export(principal, { orgId: org, format: 'jsonl', limit: 10 });
    let text = '';
    for await (const chunk of exported.stream) text += String(chunk);
    expect(text.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as EventView).resource.id)).toEqual(['same-ms']);
    const page = await service.list(principal, { orgId: org, limit: 10 });
    expect(page.items.map((item) => item.resource.id)).toEqual(['same-ms']);
  });

  it(`reads in keyset batches of at most ${EXPORT_BATCH_ROWS} rows, never the whole result at once`, async () => {
    const bigOrg = await emptyOrg();
    const total = 2 * EXPORT_BATCH_ROWS + 37;
    const context = { actor: { type: 'system' as const, id: 'volume' }, orgId: bigOrg };
    await t.container.db.transaction().execute(async (tx) => {
      for (let i = 0; i < total; i++) await t.container.audit.recorder.record(tx, context, { action: 'user.read', resourceId: `v-${i}` });
    });
    const repo = createAuditQueryRepo({ cipher: t.container.cipher });
    const limits: number[] = [];
    const service = createAuditQueryService({
      db: t.container.db,
      clock: t.container.clock,
      auditQueryRepo: {
        ...repo,
        listBefore: (db, filter, limit, beforeId) => {
          limits.push(limit);
          return repo.listBefore(db, filter, limit, beforeId);
        },
      },
    });
    const principal = { type: 'user' as const, id: platformAuditorId, userId: platformAuditorId, permissions: new Set(['platform:audit:read']) };
    const exported = await service.export(principal, { orgId: bigOrg, format: 'jsonl', limit: 100_000 });
    expect(limits, 'nothing is read before the stream is consumed').toEqual([]);
    let lines = 0;
    const seen = new Set<string>();
    for await (const chunk of exported.stream) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        lines++;
        seen.add((JSON.parse(line) as EventView).id);
      }
    }
    expect(lines).toBe(total);
    expect(seen.size).toBe(total);
    expect(limits.every((limit) => limit <= EXPORT_BATCH_ROWS)).toBe(true);
    expect(limits.length).toBe(3);

    const response = await get(`/audit/export?orgId=${bigOrg}&format=csv`, platformToken);
    expect(parseCsv(response.body)).toHaveLength(total + 1);
  });
});
