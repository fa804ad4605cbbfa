import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlertsRepo } from '../../src/modules/audit/alerts.repo.js';
import { createAuditAnalysis } from '../../src/modules/audit/audit-analysis.js';
import { builtInAlertRules } from '../../src/modules/audit/alert-rules.js';
import { createLogger } from '../../src/platform/logger.js';
import { addMember, bearer, createOrg, createUserWithPassword, login } from '../setup/identity-factory.js';
import { readAudit } from '../setup/audit-trail.js';
import { readOutbox } from '../setup/mail-outbox.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { STEP_MS, codeOf, enrollTotp, mfaLogin, post, stepAlignedClock, type ManualClock } from './mfa-support.js';

/**
 * Organisation MFA policies, enrollment grace, the last-factor rule, step-up (RFC 9470), admin
 * reset and the API-key-without-MFA alert (issue 8 §5). Time moves by the injectable clock.
 */

let t: TestApp;
let clock: ManualClock;
const PASSWORD = 'a third long passphrase for mfa policies 52';
const DAY_MS = 86_400_000;

beforeAll(async () => {
  clock = stepAlignedClock();
  t = await createTestApp({ overrides: { clock, runJobs: false } });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const get = (url: string, accessToken: string) => t.app.inject({ method: 'GET', url, headers: bearer(accessToken) });
const del = (url: string, accessToken: string) => t.app.inject({ method: 'DELETE', url, headers: bearer(accessToken) });
const put = (url: string, payload: Record<string, unknown>, accessToken: string) =>
  t.app.inject({ method: 'PUT', url, headers: { ...bearer(accessToken), 'content-type': 'application/json' }, payload });

let seq = 0;
async function member(orgId: string, role: 'owner' | 'admin' | 'viewer' | 'red-teamer') {
  const email = `${role}-${++seq}@policy.test`;
  const id = await createUserWithPassword(t, email, PASSWORD);
  await addMember(t, orgId, id, role);
  return { id, email };
}

describe('policy and grace', () => {
  it('[ASVS 6.3.3] "everyone" set by the owner covers viewers, with a fresh 7-day grace from the change', async () => {
    const ownerEmail = `owner-${++seq}@policy.test`;
    const owner = await createUserWithPassword(t, ownerEmail, PASSWORD);
    const orgId = await createOrg(t, `everyone-${seq}`, [owner]);
    const viewer = await member(orgId, 'viewer');
    const ownerToken = (await login(t, ownerEmail, PASSWORD)).accessToken;
    const set = await put(`/api/v1/orgs/${orgId}/mfa-policy`, { requirement: 'everyone' }, ownerToken);
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json<{ requirement: string }>().requirement).toBe('everyone');
    const status = (await get('/api/v1/auth/mfa', (await login(t, viewer.email, PASSWORD)).accessToken)).json<{ required: boolean; graceEndsAt: string }>();
    expect(status.required).toBe(true);
    // From the later of the change (the test clock) and the membership (dated by the real clock, a few seconds apart).
    const graceEnds = new Date(status.graceEndsAt).getTime();
    expect(graceEnds).toBeGreaterThanOrEqual(clock.nowMs() + 7 * DAY_MS);
    expect(graceEnds).toBeLessThan(clock.nowMs() + 7 * DAY_MS + 60_000);
    // Another organisation's policy is not the owner's to set.
    const other = await createOrg(t, `other-${seq}`, []);
    expect((await put(`/api/v1/orgs/${other}/mfa-policy`, { requirement: 'optional' }, ownerToken)).statusCode).toBe(404);
  });

  it('[ASVS 6.3.3] nobody removes their last factor while MFA is required; with MFA optional they may', async () => {
    const orgId = await createOrg(t, `last-${++seq}`, []);
    const admin = await member(orgId, 'admin');
    const { secret } = await enrollTotp(t, clock, (await login(t, admin.email, PASSWORD)).accessToken);
    const fresh = await mfaLogin(t, clock, admin.email, PASSWORD, secret);
    const refused = await del('/api/v1/auth/mfa/totp', fresh.accessToken);
    expect(refused.statusCode).toBe(409);
    expect(codeOf(refused)).toBe('mfa_required');

    const optionalOrg = await createOrg(t, `optional-${seq}`, []);
    const free = await member(optionalOrg, 'viewer');
    const enrolled = await enrollTotp(t, clock, (await login(t, free.email, PASSWORD)).accessToken);
    const token = (await mfaLogin(t, clock, free.email, PASSWORD, enrolled.secret)).accessToken;
    expect((await del('/api/v1/auth/mfa/totp', token)).statusCode).toBe(204);
    const after = (await get('/api/v1/auth/mfa', token)).json<{ enrolled: boolean; backupCodesRemaining: number }>();
    expect(after).toMatchObject({ enrolled: false, backupCodesRemaining: 0 });
    expect((await post(t, '/api/v1/auth/login', { email: free.email, password: PASSWORD })).json<{ accessToken?: string }>().accessToken).toBeTypeOf('string');
  });
});

describe('step-up (RFC 9470)', () => {
  it('[ASVS 7.5.1] changing factors needs an MFA younger than stepUpMaxAgeMinutes: older or absent answers 401 insufficient_user_authentication', async () => {
    const orgId = await createOrg(t, `stepup-${++seq}`, []);
    const user = await member(orgId, 'red-teamer');
    const passwordOnly = await login(t, user.email, PASSWORD);
    const { secret } = await enrollTotp(t, clock, passwordOnly.accessToken);
    // The token from before enrollment has no MFA in it.
    const absent = await post(t, '/api/v1/auth/mfa/backup-codes', {}, bearer(passwordOnly.accessToken));
    expect(absent.statusCode).toBe(401);
    expect(codeOf(absent)).toBe('insufficient_user_authentication');
    expect(absent.headers['www-authenticate']).toMatch(/^Bearer error="insufficient_user_authentication".*max_age=900$/);

    const signedIn = await mfaLogin(t, clock, user.email, PASSWORD, secret);
    expect((await post(t, '/api/v1/auth/mfa/backup-codes', {}, bearer(signedIn.accessToken))).statusCode).toBe(200);
    // 16 minutes on: a refreshed access token keeps the old auth_time, which is now too old.
    clock.advance(16 * 60_000);
    const refreshed = await post(t, '/api/v1/auth/refresh', { refreshToken: signedIn.refreshToken });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const stale = await post(t, '/api/v1/auth/mfa/backup-codes', {}, bearer(refreshed.json<{ accessToken: string }>().accessToken));
    expect(stale.statusCode).toBe(401);
    expect(codeOf(stale)).toBe('insufficient_user_authentication');
    const again = await mfaLogin(t, clock, user.email, PASSWORD, secret);
    expect((await post(t, '/api/v1/auth/mfa/backup-codes', {}, bearer(again.accessToken))).statusCode).toBe(200);
    // Each refusal is on the trail as a denied attempt at the action.
    expect(await readAudit(t, { action: 'mfa.backup-codes.regenerated', actorId: user.id, outcome: 'denied' })).toHaveLength(2);
  });
});

describe('admin MFA reset', () => {
  it('[ASVS 6.3.7] an owner resets a member: factors and codes gone, audited, the user told by mail; an admin cannot reset an owner', async () => {
    const ownerEmail = `resetter-${++seq}@policy.test`;
    const ownerId = await createUserWithPassword(t, ownerEmail, PASSWORD);
    const orgId = await createOrg(t, `reset-${seq}`, [ownerId]);
    const target = await member(orgId, 'viewer');
    await enrollTotp(t, clock, (await login(t, target.email, PASSWORD)).accessToken);
    const ownerToken = (await login(t, ownerEmail, PASSWORD)).accessToken;
    const reset = await post(t, `/api/v1/users/${target.id}/mfa/reset`, {}, bearer(ownerToken, { 'x-organization-id': orgId }));
    expect(reset.statusCode, reset.body).toBe(200);
    expect(reset.json()).toEqual({ reset: true });
    const signIn = await post(t, '/api/v1/auth/login', { email: target.email, password: PASSWORD });
    expect(signIn.json<{ accessToken?: string }>().accessToken).toBeTypeOf('string');
    const mail = (await readOutbox(t, target.email)).find((message) => message.template === 'mfa-reset');
    expect(mail?.subject).toMatch(/reset/);
    expect(await readAudit(t, { action: 'mfa.reset', actorId: ownerId, resourceId: target.id })).toHaveLength(1);

    const admin = await member(orgId, 'admin');
    const adminToken = (await login(t, admin.email, PASSWORD)).accessToken;
    expect((await post(t, `/api/v1/users/${ownerId}/mfa/reset`, {}, bearer(adminToken, { 'x-organization-id': orgId }))).statusCode).toBe(403);
    const stranger = await createUserWithPassword(t, `stranger-${seq}@policy.test`, PASSWORD);
    expect((await post(t, `/api/v1/users/${stranger}/mfa/reset`, {}, bearer(adminToken, { 'x-organization-id': orgId }))).statusCode).toBe(404);
    const viewer = await member(orgId, 'viewer');
    expect((await post(t, `/api/v1/users/${target.id}/mfa/reset`, {}, bearer((await login(t, viewer.email, PASSWORD)).accessToken))).statusCode).toBe(403);
  });
});

describe('audit rule', () => {
  it('[ASVS 16.3.3] an API key created by a user without MFA raises an alert; one created after an MFA sign-in does not', async () => {
    const orgId = await createOrg(t, `alert-${++seq}`, []);
    const plain = await member(orgId, 'red-teamer');
    const strong = await member(orgId, 'red-teamer');
    const { secret } = await enrollTotp(t, clock, (await login(t, strong.email, PASSWORD)).accessToken);
    clock.advance(STEP_MS);
    const plainKey = await post(t, '/api/v1/api-keys', { name: 'ci', scopes: ['scans:read'] }, bearer((await login(t, plain.email, PASSWORD)).accessToken));
    expect(plainKey.statusCode, plainKey.body).toBe(201);
    const strongKey = await post(t, '/api/v1/api-keys', { name: 'ci', scopes: ['scans:read'] }, bearer((await mfaLogin(t, clock, strong.email, PASSWORD, secret)).accessToken));
    expect(strongKey.statusCode, strongKey.body).toBe(201);

    await t.container.audit.sealer.sealPending();
    const analysis = createAuditAnalysis({
      db: t.container.db,
      clock,
      cipher: t.container.cipher,
      blindIndex: t.container.blindIndex,
      alertsRepo: createAlertsRepo(),
      recorder: t.container.audit.recorder,
      rules: builtInAlertRules,
      thresholds: () => t.container.policy.current().audit.alerts,
      webhookEnabled: false,
      logger: createLogger('silent'),
    });
    while ((await analysis.runBatch()).processed > 0);
    const alerts = await t.container.db.selectFrom('auditAlerts').selectAll().where('rule', '=', 'api-key-created-without-mfa').execute();
    const keyIds = alerts.map((alert) => (alert.detail as { resourceId: string }).resourceId);
    expect(keyIds).toContain(plainKey.json<{ id: string }>().id);
    expect(keyIds).not.toContain(strongKey.json<{ id: string }>().id);
  });
});

// Last: it moves the clock 8 days past memberships the factories date by the real clock.
describe('enrollment grace', () => {
  it('[ASVS 6.3.3] owners and admins (the default) keep full access for 7 days, then may only enroll; enrolling restores access', async () => {
    const orgId = await createOrg(t, `grace-${++seq}`, []);
    const admin = await member(orgId, 'admin');
    const viewer = await member(orgId, 'viewer');
    const early = await login(t, admin.email, PASSWORD);
    expect((await get('/api/v1/orgs', early.accessToken)).statusCode).toBe(200);
    const status = (await get('/api/v1/auth/mfa', early.accessToken)).json<{ required: boolean; graceEndsAt: string; enrollmentRequired: boolean }>();
    expect(status.required).toBe(true);
    expect(status.enrollmentRequired).toBe(false);
    expect(new Date(status.graceEndsAt).getTime()).toBeGreaterThan(clock.nowMs() + 6 * DAY_MS);

    clock.advance(8 * DAY_MS);
    const late = await login(t, admin.email, PASSWORD);
    const refused = await get('/api/v1/orgs', late.accessToken);
    expect(refused.statusCode).toBe(403);
    expect(codeOf(refused)).toBe('mfa_enrollment_required');
    expect((await get('/api/v1/auth/mfa', late.accessToken)).json<{ enrollmentRequired: boolean }>().enrollmentRequired).toBe(true);
    // A viewer is not required under the default policy.
    expect((await get('/api/v1/orgs', (await login(t, viewer.email, PASSWORD)).accessToken)).statusCode).toBe(200);

    await enrollTotp(t, clock, late.accessToken);
    expect((await get('/api/v1/orgs', late.accessToken)).statusCode).toBe(200);
  });
});
