import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { buildPolicy } from '../../src/config/policy-file.js';
import { builtInAlertRules } from '../../src/modules/audit/alert-rules.js';
import { createAlertWebhookRelay, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../src/modules/audit/alert-webhook.js';
import { createAlertsRepo } from '../../src/modules/audit/alerts.repo.js';
import type { AlertView } from '../../src/modules/audit/alerts.service.js';
import { createAuditAnalysis, type AuditAnalysisDeps } from '../../src/modules/audit/audit-analysis.js';
import { systemContext, type AuditContext, type AuditEvent } from '../../src/modules/audit/audit.recorder.js';
import { createManualClock } from '../../src/platform/clock.js';
import { createEgressClient } from '../../src/platform/egress/index.js';
import { createLogger } from '../../src/platform/logger.js';
import { readAudit } from '../setup/audit-trail.js';
import { addMember, bearer, createOrg, createUserWithPassword, json, login } from '../setup/identity-factory.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

const clock = createManualClock(new Date());
const logger = createLogger('silent');
const PASSWORD = 'a long enough passphrase 4 alerts';
const SECRET = 'webhook-secret-of-at-least-32-bytes!!';
const thresholds = {
  ...buildPolicy({}, 'test').policy.audit.alerts,
  failedLoginsPerAccount: { count: 3, windowMinutes: 10 },
  failedLoginsPerAddress: { count: 4, windowMinutes: 10 },
  sensitiveReadsPerActor: { count: 5, windowMinutes: 5 },
};

let t: TestApp;
let analysisDeps: AuditAnalysisDeps;
const users: Record<'auditorA' | 'auditorB' | 'viewerA' | 'platform', { id: string; email: string; token?: string }> = {
  auditorA: { id: '', email: 'auditor-a@alerts.test' },
  auditorB: { id: '', email: 'auditor-b@alerts.test' },
  viewerA: { id: '', email: 'viewer-a@alerts.test' },
  platform: { id: '', email: 'platform-auditor@alerts.test' },
};
let orgA = '';
let orgB = '';

/** Seals what is pending (the real sealer) and runs the analysis until it has caught up. */
async function analyse(deps: AuditAnalysisDeps = analysisDeps) {
  await t.container.audit.sealer.sealPending();
  const analysis = createAuditAnalysis(deps);
  let total = 0;
  for (;;) {
    const { processed, raised } = await analysis.runBatch();
    total += raised;
    if (processed === 0) return total;
  }
}

const alertsOf = (rule: string) => t.container.db.selectFrom('auditAlerts').selectAll().where('rule', '=', rule).orderBy('id').execute();
const record = (context: AuditContext, event: AuditEvent) => t.container.audit.recorder.recordNow(context, event);
const failedLogin = (email: string, ip: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email, password: 'wrong password, entirely' }, remoteAddress: ip });
const listAlerts = (token: string, query = '') => t.app.inject({ method: 'GET', url: `/api/v1/audit/alerts${query}`, headers: bearer(token) });
const acknowledge = (token: string, id: string, note?: string) =>
  t.app.inject({ method: 'POST', url: `/api/v1/audit/alerts/${id}/acknowledge`, headers: bearer(token, json), payload: note === undefined ? {} : { note } });

beforeAll(async () => {
  // Jobs off: the test seals and analyses by hand, with its own thresholds.
  t = await createTestApp({ overrides: { clock, runJobs: false } });
  analysisDeps = {
    db: t.container.db,
    clock,
    cipher: t.container.cipher,
    blindIndex: t.container.blindIndex,
    alertsRepo: createAlertsRepo(),
    recorder: t.container.audit.recorder,
    rules: builtInAlertRules,
    thresholds: () => thresholds,
    webhookEnabled: true,
    logger,
  };
  for (const user of Object.values(users)) {
    user.id = await createUserWithPassword(t, user.email, PASSWORD, user === users.platform ? { platformRole: 'auditor' } : {});
  }
  orgA = await createOrg(t, 'alerts-a', []);
  orgB = await createOrg(t, 'alerts-b', []);
  await addMember(t, orgA, users.auditorA.id, 'auditor');
  await addMember(t, orgA, users.viewerA.id, 'viewer');
  await addMember(t, orgB, users.auditorB.id, 'auditor');
  for (const user of Object.values(users)) user.token = (await login(t, user.email, PASSWORD)).accessToken;
});

afterAll(async () => {
  await t?.close();
});

describe('audit analysis rules over the sealed stream', () => {
  it('[ASVS 16.3.1] a failed-login burst on one account raises one alert at the threshold, not below', async () => {
    const victim = 'victim@alerts.test';
    for (const n of [1, 2]) expect((await failedLogin(victim, `198.51.100.${n}`)).statusCode).toBe(401);
    await analyse();
    expect(await alertsOf('failed-logins-per-account')).toHaveLength(0);
    expect((await failedLogin(victim, '198.51.100.3')).statusCode).toBe(401);
    await analyse();
    const [alert, ...more] = await alertsOf('failed-logins-per-account');
    expect(more).toHaveLength(0);
    expect(alert).toMatchObject({ orgId: null, severity: 'high', detail: { count: 3, threshold: 3, windowMinutes: 10 } });
    expect(alert!.lastSeq - alert!.firstSeq).toBeGreaterThanOrEqual(2);
    // Raising is itself on the trail, by the system, in the analysis' transaction.
    const [raised] = await readAudit(t, { action: 'audit.alert.raised', resourceId: alert!.id });
    expect(raised).toMatchObject({ actorType: 'system', actorId: 'audit.analyse', orgId: null, detail: { rule: 'failed-logins-per-account' } });
  });

  it('[ASVS 16.3.1] failed logins from one address across accounts raise a per-address alert at the threshold', async () => {
    for (const n of [1, 2, 3]) await failedLogin(`nobody-${n}@alerts.test`, '203.0.113.7');
    await analyse();
    expect(await alertsOf('failed-logins-per-address')).toHaveLength(0);
    await failedLogin('nobody-4@alerts.test', '203.0.113.7');
    await analyse();
    expect(await alertsOf('failed-logins-per-address')).toHaveLength(1);
    expect(await alertsOf('failed-logins-per-account')).toHaveLength(1);
  });

  it('[ASVS 16.3.3] an unusual volume of finding/evidence reads by one actor raises an alert in that organisation (clock-driven window)', async () => {
    const reader: AuditContext = { actor: { type: 'user', id: users.viewerA.id }, orgId: orgA };
    for (const action of ['finding.list', 'finding.read', 'attempt.read', 'evidence.read'] as const) await record(reader, { action, resourceId: 'r-1' });
    clock.advance(6 * 60_000);
    await record(reader, { action: 'finding.read', resourceId: 'r-2' });
    await analyse();
    expect(await alertsOf('sensitive-read-volume')).toHaveLength(0);
    for (let n = 0; n < 4; n += 1) await record(reader, { action: 'evidence.read', resourceId: `e-${n}` });
    await analyse();
    const alerts = await alertsOf('sensitive-read-volume');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ orgId: orgA, detail: { count: 5, actorId: users.viewerA.id } });
  });

  it('[ASVS 16.3.3] each privilege change raises its own alert, and a failed chain verification a critical one', async () => {
    const admin: AuditContext = { actor: { type: 'user', id: users.auditorA.id }, orgId: orgA };
    await record(admin, { action: 'user.role.changed', resourceId: 'membership-1', changed: ['role'] });
    await record(admin, { action: 'user.role.changed', resourceId: 'membership-2', changed: ['role'] });
    await record({ actor: { type: 'user', id: users.platform.id } }, { action: 'user.disabled', resourceId: users.viewerA.id });
    await record(systemContext('audit.verify'), { action: 'audit.chain.verification-failed', outcome: 'error', detail: { firstBadSeq: 7 } });
    await analyse();
    const privilege = await alertsOf('privilege-change');
    expect(privilege.map((alert) => alert.orgId)).toEqual([orgA, orgA, null]);
    const [broken] = await alertsOf('chain-verification-failed');
    expect(broken).toMatchObject({ severity: 'critical', orgId: null, summary: 'Audit chain verification failed at sequence 7' });
  });

  it('[ASVS 16.4.2] a re-run batch raises nothing twice, and a failed batch stores neither alerts nor cursor', async () => {
    const before = await t.container.db.selectFrom('auditAlerts').select('id').execute();
    const raisedBefore = await readAudit(t, { action: 'audit.alert.raised' });
    await t.container.db.updateTable('auditAnalysisCursors').set({ lastSeq: 0 }).execute();
    expect(await analyse()).toBe(0);
    expect(await t.container.db.selectFrom('auditAlerts').select('id').execute()).toHaveLength(before.length);
    expect(await readAudit(t, { action: 'audit.alert.raised' })).toHaveLength(raisedBefore.length);

    await record(systemContext('audit.verify'), { action: 'audit.chain.verification-failed', outcome: 'error' });
    const cursor = async () => (await t.container.db.selectFrom('auditAnalysisCursors').select('lastSeq').executeTakeFirstOrThrow()).lastSeq;
    const cursorBefore = await cursor();
    const crashing = { ...analysisDeps, recorder: { record: () => Promise.reject(new Error('crash between alert and commit')) } };
    await expect(analyse(crashing)).rejects.toThrow('crash between alert and commit');
    expect(await cursor()).toBe(cursorBefore);
    expect(await alertsOf('chain-verification-failed')).toHaveLength(1);
    expect(await analyse()).toBe(1);
    expect(await alertsOf('chain-verification-failed')).toHaveLength(2);
  });
});

describe('alert API', () => {
  it('[ASVS 8.2.2] an organisation auditor sees only its organisation; platform alerts only the platform auditor', async () => {
    const a = (await listAlerts(users.auditorA.token!)).json<{ items: AlertView[] }>().items;
    expect(a.length).toBeGreaterThan(0);
    expect(a.every((alert) => alert.orgId === orgA)).toBe(true);
    expect((await listAlerts(users.auditorB.token!)).json<{ items: AlertView[] }>().items).toEqual([]);
    const platform = (await listAlerts(users.platform.token!, '?limit=100')).json<{ items: AlertView[] }>().items;
    expect(platform.length).toBeGreaterThan(0);
    expect(platform.every((alert) => alert.orgId === null)).toBe(true);
    expect((await listAlerts(users.viewerA.token!)).statusCode).toBe(403);
    // Reading alerts is audited.
    expect(await readAudit(t, { action: 'audit.alert.list', actorId: users.auditorA.id })).not.toHaveLength(0);
  });

  it('[ASVS 16.4.2] filters by rule and status, and pages with a cursor', async () => {
    const page1 = (await listAlerts(users.platform.token!, '?rule=privilege-change&limit=1')).json<{ items: AlertView[]; nextCursor: string | null }>();
    expect(page1.items).toHaveLength(1);
    expect(page1.items[0]!.rule).toBe('privilege-change');
    const open = (await listAlerts(users.platform.token!, '?status=open&limit=100')).json<{ items: AlertView[] }>().items;
    expect(open.every((alert) => alert.status === 'open')).toBe(true);
    const first = (await listAlerts(users.platform.token!, '?limit=1')).json<{ items: AlertView[]; nextCursor: string }>();
    const second = (await listAlerts(users.platform.token!, `?limit=1&cursor=${first.nextCursor}`)).json<{ items: AlertView[] }>();
    expect(second.items[0]!.id < first.items[0]!.id).toBe(true);
  });

  it('[ASVS 8.2.2] acknowledging: another organisation gets 404, a viewer 403, the auditor once (audited), then 409', async () => {
    const [alert] = await alertsOf('sensitive-read-volume');
    expect((await acknowledge(users.auditorB.token!, alert!.id)).statusCode).toBe(404);
    expect((await acknowledge(users.viewerA.token!, alert!.id)).statusCode).toBe(403);
    expect((await acknowledge(users.auditorA.token!, alert!.id, 'bell\u0007 or bidi \u202e')).statusCode).toBe(422);
    const response = await acknowledge(users.auditorA.token!, alert!.id, 'Reviewed with the reader.');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<AlertView>()).toMatchObject({ status: 'acknowledged', acknowledgedBy: users.auditorA.id, note: 'Reviewed with the reader.' });
    const [event, ...others] = await readAudit(t, { action: 'audit.alert.acknowledged', resourceId: alert!.id, outcome: 'success' });
    expect(others).toHaveLength(0);
    expect(event).toMatchObject({ actorId: users.auditorA.id, orgId: orgA, requestId: response.headers['x-request-id'], changedFields: ['note'] });
    // The refused attempts are on the trail too.
    expect(await readAudit(t, { action: 'audit.alert.acknowledged', resourceId: alert!.id, outcome: 'denied' })).toHaveLength(1);
    expect((await acknowledge(users.auditorA.token!, alert!.id)).statusCode).toBe(409);
    const [platformAlert] = await alertsOf('chain-verification-failed');
    expect((await acknowledge(users.auditorA.token!, platformAlert!.id)).statusCode).toBe(404);
    expect((await acknowledge(users.platform.token!, platformAlert!.id)).statusCode).toBe(200);
  });

  it('[ASVS 16.2.5] alert summaries and details hold ids and counts only: no email, no client address', async () => {
    const rows = await t.container.db.selectFrom('auditAlerts').selectAll().execute();
    const text = JSON.stringify(rows);
    expect(text).not.toMatch(/@alerts\.test|198\.51\.100\.|203\.0\.113\.|victim|nobody/);
  });
});

describe('alert webhook', () => {
  let server: http.Server;
  let url = '';
  const statuses: number[] = [];
  const received: Array<{ verified: boolean; body: string }> = [];

  /** What a receiver does: recompute the HMAC over "<timestamp>.<body>" and refuse stale timestamps. */
  const verify = (timestamp: string | undefined, signature: string | undefined, body: string) => {
    if (!timestamp || !signature || Math.abs(clock.nowMs() / 1000 - Number(timestamp)) > 300) return false;
    const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex')}`);
    return expected.length === signature.length && timingSafeEqual(expected, Buffer.from(signature));
  };

  const relay = (maxAttempts: number) =>
    createAlertWebhookRelay({
      db: t.container.db,
      clock,
      alertsRepo: createAlertsRepo(),
      egress: createEgressClient({ mode: t.config.mode, policy: () => ({ allowPrivateNetworks: ['127.0.0.1/32'], responseLimitBytes: 65_536, timeoutMs: 5_000 }) }),
      webhook: { url, secret: SECRET },
      maxAttempts: () => maxAttempts,
      logger,
    });

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ verified: verify(request.headers[TIMESTAMP_HEADER] as string, request.headers[SIGNATURE_HEADER] as string, body), body });
        response.writeHead(statuses.shift() ?? 204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/alerts`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('[ASVS 16.4.3] every alert is POSTed once, signed over timestamp and body; a failure is retried with backoff', async () => {
    const pending = await t.container.db.selectFrom('auditAlertDeliveries').select('alertId').execute();
    expect(pending.length).toBe((await t.container.db.selectFrom('auditAlerts').select('id').execute()).length);
    statuses.push(500);
    const first = await relay(5).run(new AbortController().signal);
    expect(first).toEqual({ delivered: pending.length - 1, retry: 1, failed: 0 });
    const [retrying] = await t.container.db.selectFrom('auditAlertDeliveries').selectAll().where('status', '=', 'pending').execute();
    expect(retrying).toMatchObject({ attempts: 1, lastError: 'http 500' });
    expect(await relay(5).run(new AbortController().signal)).toEqual({ delivered: 0, retry: 0, failed: 0 });
    clock.advance(31_000);
    expect(await relay(5).run(new AbortController().signal)).toEqual({ delivered: 1, retry: 0, failed: 0 });

    expect(received.every((delivery) => delivery.verified)).toBe(true);
    const ids = new Set(received.map((delivery) => (JSON.parse(delivery.body) as { alert: { id: string } }).alert.id));
    expect(ids).toEqual(new Set(pending.map((row) => row.alertId)));
    expect(received.map((delivery) => delivery.body).join('\n')).not.toMatch(/@alerts\.test|198\.51\.100\.|203\.0\.113\./);
    // A tampered body or a replayed old timestamp no longer verifies.
    const sample = received[0]!;
    const timestamp = String(Math.floor(clock.nowMs() / 1000));
    const signature = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${sample.body}`).digest('hex')}`;
    expect(verify(timestamp, signature, sample.body)).toBe(true);
    expect(verify(timestamp, signature, sample.body.replace('"severity":"', '"severity":"x'))).toBe(false);
    expect(verify(String(Number(timestamp) - 600), signature, sample.body)).toBe(false);
  });

  it('[ASVS 16.4.3] a delivery is given up on after the policy attempts', async () => {
    await record(systemContext('audit.verify'), { action: 'audit.chain.verification-failed', outcome: 'error' });
    expect(await analyse()).toBe(1);
    statuses.push(503);
    expect(await relay(1).run(new AbortController().signal)).toEqual({ delivered: 0, retry: 0, failed: 1 });
    expect(await t.container.db.selectFrom('auditAlertDeliveries').select('status').where('status', '=', 'failed').execute()).toHaveLength(1);
  });
});

describe('alert webhook configuration', () => {
  it('[ASVS 13.2.1] URL and secret come together, the secret is at least 32 bytes, from the variable or a file', () => {
    const url = 'https://siem.example.test/hooks';
    expect(() => loadConfig({ AUDIT_ALERT_WEBHOOK_URL: url })).toThrow(ConfigError);
    expect(() => loadConfig({ AUDIT_ALERT_WEBHOOK_SECRET: SECRET })).toThrow(ConfigError);
    expect(() => loadConfig({ AUDIT_ALERT_WEBHOOK_URL: url, AUDIT_ALERT_WEBHOOK_SECRET: 'too short' })).toThrow(/at least 32 bytes/);
    expect(() => loadConfig({ AUDIT_ALERT_WEBHOOK_URL: 'ftp://x', AUDIT_ALERT_WEBHOOK_SECRET: SECRET })).toThrow(ConfigError);
    expect(loadConfig({ AUDIT_ALERT_WEBHOOK_URL: url, AUDIT_ALERT_WEBHOOK_SECRET: SECRET }).auditAlertWebhook).toEqual({ url, secret: SECRET });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'vutf-hook-')), 'secret');
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    expect(loadConfig({ AUDIT_ALERT_WEBHOOK_URL: url, AUDIT_ALERT_WEBHOOK_SECRET_FILE: file }).auditAlertWebhook).toEqual({ url, secret: SECRET });
    expect(loadConfig({}).auditAlertWebhook).toBeUndefined();
  });
});
