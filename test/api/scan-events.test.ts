import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainer, type Container } from '../../src/container.js';
import { createScanEventHub, createScanEventReader } from '../../src/modules/scans/scan-events.js';
import { createScanEventStreams, scanEventsRoutes, type ScanEventStreams } from '../../src/modules/scans/scan-events.routes.js';
import { createLogger } from '../../src/platform/logger.js';
import { serverUrls } from '../setup/environment.js';
import { addMember, createOrg, createUserWithPassword, login, orgIdBySlug } from '../setup/identity-factory.js';
import { appendEvent, insertScan, setStatus } from '../setup/scan-rows.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';
import { openEventStream } from '../setup/sse-client.js';

/**
 * Server-Sent Events of a scan (issue 6 §5; DESIGN §9) on a REAL listener (app.inject never returns on an
 * open stream), read with fetch as a browser console or CLI would (bearer header, never a token in the URL).
 * In server mode a second container on the same schema and Redis prefix appends the events: another
 * process as far as the stream can tell, so delivery crosses Redis pub/sub.
 */

const HEARTBEAT_MS = 100;
let t: TestApp;
let base: string;
let token: string;
let outsiderToken: string;
let orgId: string;
let rootId: string;
let fastStreams: ScanEventStreams;

const auth = (accessToken = token) => ({ authorization: `Bearer ${accessToken}` });
const events = () => t.container.scans.events;

beforeAll(async () => {
  t = await createTestApp({
    // Jobs run in this process in both modes (server-mode API processes do not by default).
    overrides: { runJobs: true },
    // The same routes with a short heartbeat and a per-caller cap of 2, under their own prefix.
    beforeReady: (app, container) => {
      fastStreams = createScanEventStreams({
        hub: createScanEventHub({ store: container.store }),
        reader: createScanEventReader({ db: container.db }),
        scans: { scanState: (org, scan) => container.db.selectFrom('scans').select(['status', 'statusReason']).where('id', '=', scan).where('orgId', '=', org).executeTakeFirst() },
        store: container.store,
        logger: container.logger,
        settings: { heartbeatMs: HEARTBEAT_MS, maxStreamsPerPrincipal: 2 },
      });
      app.addHook('preClose', (done) => {
        fastStreams.closeAll();
        done();
      });
      void app.register(scanEventsRoutes, { prefix: '/fast/api/v1', streams: fastStreams });
    },
  });
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  orgId = await orgIdBySlug(t, 'default');
  rootId = (await t.container.db.selectFrom('users').select('id').where('platformRole', '=', 'super-admin').executeTakeFirstOrThrow()).id;
  token = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  const outsiderId = await createUserWithPassword(t, 'outsider@example.test', 'an outsider with a long passphrase 31');
  const otherOrg = await createOrg(t, 'elsewhere', []);
  await addMember(t, otherOrg, outsiderId, 'owner');
  outsiderToken = (await login(t, 'outsider@example.test', 'an outsider with a long passphrase 31')).accessToken;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('GET /scans/{id}/events', () => {
  it('[ASVS 8.2.1] [ASVS 8.2.2] refuses without credentials (401) and answers 404 for another organisation\'s scan', async () => {
    const scanId = await insertScan(t.container, orgId, rootId);
    const anonymous = await fetch(`${base}/api/v1/scans/${scanId}/events`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const outsider = await fetch(`${base}/api/v1/scans/${scanId}/events`, { headers: auth(outsiderToken) });
    expect(outsider.status).toBe(404);
    await outsider.body?.cancel();
  });

  it('streams the log in id order with the security headers, and ends after the final status', async () => {
    const scanId = await insertScan(t.container, orgId, rootId);
    const first = await appendEvent(t.container, events(), orgId, scanId, 'status', { status: 'running', reason: null });
    const stream = await openEventStream(`${base}/api/v1/scans/${scanId}/events`, { ...auth(), 'x-request-id': 'sse-test-request-0001' });
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream.response.headers.get('x-request-id')).toBe('sse-test-request-0001');
    expect(stream.response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(stream.response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(stream.response.headers.get('cache-control')).toBe('no-store');
    expect((await stream.nextEvent()).id).toBe(String(first));
    // Appended while the stream waits: the notification wakes it.
    const progress = await appendEvent(t.container, events(), orgId, scanId, 'progress', { done: 3, total: 10 });
    const received = await stream.nextEvent();
    expect(received).toEqual({ id: String(progress), event: 'progress', data: { done: 3, total: 10 } });
    const final = await setStatus(t.container, events(), orgId, scanId, 'completed');
    expect(await stream.nextEvent()).toEqual({ id: String(final), event: 'status', data: { status: 'completed', reason: null } });
    await stream.ended();
  });

  it('resumes after Last-Event-ID with no gap and no repeat, and a reconnect after the end answers 204', async () => {
    const scanId = await insertScan(t.container, orgId, rootId);
    const ids: number[] = [];
    for (let done = 1; done <= 6; done += 1) ids.push(await appendEvent(t.container, events(), orgId, scanId, 'progress', { done, total: 10 }));
    const first = await openEventStream(`${base}/api/v1/scans/${scanId}/events`, auth());
    const seen = [await first.nextEvent(), await first.nextEvent(), await first.nextEvent()];
    await first.close();
    expect(seen.map((event) => Number(event.id))).toEqual(ids.slice(0, 3));
    // Written while no one was connected.
    ids.push(await appendEvent(t.container, events(), orgId, scanId, 'progress', { done: 7, total: 10 }));
    ids.push(await setStatus(t.container, events(), orgId, scanId, 'cancelled', 'cancelled by a user'));
    const resumed = await openEventStream(`${base}/api/v1/scans/${scanId}/events`, { ...auth(), 'last-event-id': seen[2]!.id! });
    const rest = [];
    for (let index = 3; index < ids.length; index += 1) rest.push(await resumed.nextEvent());
    await resumed.ended();
    expect(rest.map((event) => Number(event.id))).toEqual(ids.slice(3));
    expect(rest.at(-1)).toMatchObject({ event: 'status', data: { status: 'cancelled', reason: 'cancelled by a user' } });
    const after = await fetch(`${base}/api/v1/scans/${scanId}/events`, { headers: { ...auth(), 'last-event-id': String(ids.at(-1)) } });
    expect(after.status).toBe(204);
    const malformed = await fetch(`${base}/api/v1/scans/${scanId}/events`, { headers: { ...auth(), 'last-event-id': '12; drop' } });
    expect(malformed.status).toBe(400);
  });

  it('sends heartbeat comments while nothing happens', async () => {
    const scanId = await insertScan(t.container, orgId, rootId);
    const stream = await openEventStream(`${base}/fast/api/v1/scans/${scanId}/events`, auth());
    const started = Date.now();
    await stream.nextComment('heartbeat');
    await stream.nextComment('heartbeat');
    // Two heartbeats at 100 ms: well under the 5 s safety poll, so they are not events in disguise.
    expect(Date.now() - started).toBeLessThan(3000);
    await stream.close();
  });

  it('[ASVS 15.2.2] caps the streams one caller may hold open (429 with Retry-After), and frees a slot on close', async () => {
    const scanId = await insertScan(t.container, orgId, rootId);
    const url = `${base}/fast/api/v1/scans/${scanId}/events`;
    const open = [await openEventStream(url, auth()), await openEventStream(url, auth())];
    const refused = await fetch(url, { headers: auth() });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    await open[0]!.close();
    await expect.poll(() => fastStreams.openCount()).toBe(1);
    const again = await openEventStream(url, auth());
    expect(again.response.status).toBe(200);
    await Promise.all([again.close(), open[1]!.close()]);
  });
});

describe.skipIf(!serverUrls())('across processes (server mode)', () => {
  let other: Container;
  beforeAll(async () => {
    // Same schema, same Redis prefix, its own pools and subscriber: another API process in all but pid.
    other = await createContainer(t.config, { logger: createLogger('silent'), runJobs: false, ...t.backend.overrides });
  }, 60_000);
  afterAll(async () => {
    await other?.close();
  });

  it('delivers events appended by another process at once (Redis pub/sub, not the safety poll)', async () => {
    const scanId = await insertScan(t.container, orgId, rootId);
    const stream = await openEventStream(`${base}/api/v1/scans/${scanId}/events`, auth());
    const sentAt = Date.now();
    const id = await appendEvent(other, other.scans.events, orgId, scanId, 'progress', { done: 1, total: 10 });
    expect((await stream.nextEvent()).id).toBe(String(id));
    // The live safety poll is 5 s: an arrival well before it came through the notification.
    expect(Date.now() - sentAt).toBeLessThan(2500);
    await setStatus(other, other.scans.events, orgId, scanId, 'failed', 'target answered 401');
    expect(await stream.nextEvent()).toMatchObject({ event: 'status', data: { status: 'failed' } });
    await stream.ended();
  });
});

describe('a real scan, through the API only', () => {
  it('creates a sim:leaky scan, follows it by SSE to its final status, and reads one attempt per cell', async () => {
    const json = { ...auth(), 'content-type': 'application/json' };
    const target = await t.app.inject({ method: 'POST', url: '/api/v1/targets', headers: json, payload: { name: 'leaky for sse', kind: 'sim:leaky', config: {}, limits: { requestsPerMinute: 6000, maxInFlight: 4 } } });
    expect(target.statusCode, target.body).toBe(201);
    const body = { name: 'sse end to end', targetId: target.json<{ id: string }>().id, probes: { categories: ['system-prompt-leakage'] }, scorers: [{ id: 'leak' }], samples: 2, seed: 7 };
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/scans', headers: json, payload: body });
    expect(created.statusCode, created.body).toBe(202);
    const scan = created.json<{ id: string }>();
    const stream = await openEventStream(`${base}/api/v1/scans/${scan.id}/events`, auth());
    const seen = [];
    for (;;) {
      const event = await stream.nextEvent(20_000);
      seen.push(event);
      if (event.event === 'status' && ['completed', 'failed', 'partial', 'cancelled'].includes((event.data as { status: string }).status)) break;
    }
    await stream.ended();
    expect(seen.at(-1)!.data).toMatchObject({ status: 'completed' });
    const ids = seen.map((event) => Number(event.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const status = (await t.app.inject({ method: 'GET', url: `/api/v1/scans/${scan.id}`, headers: auth() })).json<{ coverage: { total: number; done: number } }>();
    const attempts = await t.app.inject({ method: 'GET', url: `/api/v1/scans/${scan.id}/attempts?limit=100`, headers: auth() });
    expect(attempts.statusCode, attempts.body).toBe(200);
    const cells = attempts.json<{ items: Array<{ cellIndex: number }> }>().items.map((item) => item.cellIndex);
    expect(status.coverage.total).toBeGreaterThan(0);
    expect(cells).toEqual([...Array(status.coverage.total).keys()]);
    expect(seen.some((event) => event.event === 'progress')).toBe(true);
  }, 60_000);
});

describe('shutdown', () => {
  it('closing the server ends open streams at once instead of waiting for them', async () => {
    const scanId = await insertScan(t.container, orgId, rootId);
    const stream = await openEventStream(`${base}/api/v1/scans/${scanId}/events`, auth());
    const started = Date.now();
    const closing = t.app.close();
    await stream.ended(2000);
    expect(Date.now() - started).toBeLessThan(2000);
    // What else close() waits for are sockets fetch's pool opened and never sent a request on (Node counts
    // them as active until headersTimeout): not streams, and not this server's to keep.
    t.app.server.closeAllConnections();
    await closing;
    expect(t.container.scans.eventStreams.openCount()).toBe(0);
  });
});
