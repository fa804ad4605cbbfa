import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import type { JobContext } from '../../src/platform/queue/index.js';
import { INACTIVE_ACCOUNTS_JOB, inactiveAccountsJobs, inactiveAccountsSchedules } from '../../src/modules/users/inactive-accounts.jobs.js';
import { INACTIVE_JOB_ACTOR, type InactiveRunReport } from '../../src/modules/users/inactive-accounts.service.js';
import { readAudit } from '../setup/audit-trail.js';
import { addMember, bearer, createOrg, createUserWithPassword, freshIp, json, login } from '../setup/identity-factory.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Issue 9 §5 (NIST AC-2(3)): accounts unused for `retention.inactiveAccountDays` (90 by default) are
 * disabled by the daily job, judged by the injectable clock; each disable is a system audit event with
 * its reason, ends every credential at once, and only an administrator's enable brings the account
 * back (restarting its clock). The last active platform super-admin is exempted, visibly.
 * Runs on PGlite, or on PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set.
 */
const MINUTE = 60_000;
const DAY = 86_400_000;
const PASSWORD = 'an inactive accounts passphrase 7731';

// Starts at the real time: rows the factories write with `new Date()` agree with the service's clock.
const clock = createManualClock(new Date());
let t: TestApp;
let seq = 0;

beforeAll(async () => {
  // runJobs off: the tests run the job themselves at the clock's chosen instants.
  t = await createTestApp({ overrides: { clock, runJobs: false } });
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const context = (): JobContext => ({ jobId: 'test', attempt: 1, signal: new AbortController().signal });
/** One run of the registered job's handler (what the queue runs daily); the report comes from the service. */
async function runJob(): Promise<InactiveRunReport> {
  let report: InactiveRunReport | undefined;
  const service = t.container.services.inactiveAccounts;
  const [job] = inactiveAccountsJobs({ service: () => ({ run: async (signal) => (report = await service.run(signal)) }) });
  await job.handler({}, context());
  return report!;
}

const newUser = async (label: string, platformRole: 'super-admin' | null = null) => {
  const email = `inactive-${label}-${++seq}@example.test`;
  return { email, id: await createUserWithPassword(t, email, PASSWORD, { platformRole }) };
};
const statusOf = async (id: string) => (await t.container.db.selectFrom('users').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
const loginStatus = async (email: string) =>
  (await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email, password: PASSWORD }, remoteAddress: freshIp() })).statusCode;

describe('inactive accounts: the daily job', () => {
  it('is registered and scheduled once a day', async () => {
    expect(inactiveAccountsSchedules()).toEqual([{ name: INACTIVE_ACCOUNTS_JOB, everyMs: DAY }]);
    await expect(t.container.queue.enqueue(INACTIVE_ACCOUNTS_JOB, {}, { jobId: 'registration-check' })).resolves.toBe('registration-check');
    expect(t.container.policy.current().retention.inactiveAccountDays).toBe(90);
  });
});

describe('[ASVS 7.4.2] [ASVS 16.3.3] accounts inactive for 90 days are disabled by the clock, audited, and re-enabled only by an admin', () => {
  let admin: { email: string; id: string };
  let dormant: { email: string; id: string };
  let byLogin: { email: string; id: string };
  let byRefresh: { email: string; id: string };
  const start = clock.nowMs();

  it('counts creation, sign-in and refresh as activity, and disables exactly at 90 days', async () => {
    admin = await newUser('admin', 'super-admin');
    dormant = await newUser('dormant');
    byLogin = await newUser('by-login');
    byRefresh = await newUser('by-refresh');

    clock.advance(50 * DAY);
    await login(t, admin.email, PASSWORD);
    await login(t, byLogin.email, PASSWORD);
    const tokens = await login(t, byRefresh.email, PASSWORD);
    clock.advance(MINUTE);
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: json, payload: { refreshToken: tokens.refreshToken }, remoteAddress: freshIp() });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    // Only the refresh speaks for this one: its sign-in is erased, its first token backdated to creation.
    await sql`update users set last_login_at = null where id = ${byRefresh.id}`.execute(t.container.db);
    await sql`update refresh_tokens set created_at = ${new Date(start)} where used_at is not null and family_id in (select id from refresh_token_families where user_id = ${byRefresh.id})`.execute(t.container.db);

    // 90 days minus a minute after creation: nobody yet.
    clock.set(new Date(start + 90 * DAY - MINUTE));
    const early = await runJob();
    expect(early.disabled).toBe(0);
    expect(await statusOf(dormant.id)).toBe('active');

    // A minute past 90 days: the dormant account (and the bootstrap super-admin, another super-admin
    // being active); the ones used on day 50 stay.
    clock.set(new Date(start + 90 * DAY + MINUTE));
    const due = await runJob();
    expect(await statusOf(dormant.id)).toBe('disabled');
    for (const user of [admin, byLogin, byRefresh]) expect(await statusOf(user.id)).toBe('active');
    expect(due.disabled).toBeGreaterThanOrEqual(1);
    expect(due.exempted).toBe(0);

    const [event] = await readAudit(t, { action: 'user.inactive.disabled', resourceId: dormant.id });
    expect(event).toMatchObject({ actorType: 'system', actorId: INACTIVE_JOB_ACTOR, outcome: 'success', changedFields: ['status'] });
    expect(event!.detail).toMatchObject({ reason: 'inactive', inactiveAccountDays: 90 });
    expect(Date.parse(String(event!.detail.lastActivityAt))).toBeLessThan(start + MINUTE);

    // Idempotent: the same day's second run finds nothing.
    expect((await runJob()).disabled).toBe(0);
    expect(await readAudit(t, { action: 'user.inactive.disabled', resourceId: dormant.id })).toHaveLength(1);
  });

  it('a disabled account cannot sign itself back in: its login is refused', async () => {
    expect(await loginStatus(dormant.email)).toBe(401);
    expect(await statusOf(dormant.id)).toBe('disabled');
  });

  it('90 days after the last sign-in or refresh the others go too; the last active super-admin is exempted and audited', async () => {
    clock.set(new Date(start + 140 * DAY + 2 * MINUTE));
    const report = await runJob();
    expect(await statusOf(byLogin.id)).toBe('disabled');
    expect(await statusOf(byRefresh.id)).toBe('disabled');
    expect(report.exempted).toBe(1);
    expect(await statusOf(admin.id)).toBe('active');
    const [exempted] = await readAudit(t, { action: 'user.inactive.exempted', resourceId: admin.id });
    expect(exempted).toMatchObject({ actorType: 'system', actorId: INACTIVE_JOB_ACTOR });
    expect(exempted!.detail).toMatchObject({ reason: 'last-active-super-admin' });
  });

  it('an admin re-enable (POST /users/{id}/enable, audited) restarts the clock: the next run leaves the account alone', async () => {
    const adminToken = (await login(t, admin.email, PASSWORD)).accessToken;
    const enabled = await t.app.inject({ method: 'POST', url: `/api/v1/users/${dormant.id}/enable`, headers: bearer(adminToken), remoteAddress: freshIp() });
    expect(enabled.statusCode, enabled.body).toBe(200);
    expect(await readAudit(t, { action: 'user.enabled', resourceId: dormant.id, actorId: admin.id })).toHaveLength(1);

    expect((await runJob()).disabled).toBe(0);
    expect(await statusOf(dormant.id)).toBe('active');
    expect(await loginStatus(dormant.email)).toBe(200);

    // Unused again for 90 days from that sign-in: disabled again.
    clock.advance(90 * DAY + MINUTE);
    await login(t, admin.email, PASSWORD);
    await runJob();
    expect(await statusOf(dormant.id)).toBe('disabled');
  });

  it('follows the policy: inactiveAccountDays is read when the job runs', async () => {
    const user = await newUser('policy');
    const { buildPolicy } = await import('../../src/config/policy-file.js');
    await t.container.policy.apply(buildPolicy({ retention: { inactiveAccountDays: 30 } }, 'inactive accounts test'));
    try {
      // Created with the real time, which the manual clock has left behind: back to a known creation.
      await sql`update users set created_at = ${clock.now()} where id = ${user.id}`.execute(t.container.db);
      clock.advance(30 * DAY + MINUTE);
      await login(t, admin.email, PASSWORD);
      await runJob();
      expect(await statusOf(user.id)).toBe('disabled');
    } finally {
      await t.container.policy.apply(buildPolicy({}, 'built-in defaults'));
    }
  });
});

describe('[ASVS 7.4.2] a disable for inactivity ends every credential at once', () => {
  it('access token, refresh token and API key of the account stop working on the next request', async () => {
    const user = await newUser('credentials');
    // A member, not an owner: owners must enrol MFA within a grace the moved clock has long passed.
    await addMember(t, await createOrg(t, `inactive-org-${++seq}`, []), user.id, 'red-teamer');
    const tokens = await login(t, user.email, PASSWORD);
    const key = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...json, ...bearer(tokens.accessToken) }, payload: { name: 'dormant key', scopes: ['orgs:read'] } });
    expect(key.statusCode, key.body).toBe(201);
    const apiKey = key.json<{ key: string }>().key;
    const withKey = () => t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: { 'x-api-key': apiKey } });
    const withToken = () => t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(tokens.accessToken) });
    expect((await withKey()).statusCode).toBe(200);
    expect((await withToken()).statusCode).toBe(200);

    // Its recorded activity lies 100 days back while its credentials are still live (an API key in a
    // script keeps working without any sign-in): the job must cut them all, not wait for expiry.
    const longAgo = new Date(clock.nowMs() - 100 * DAY);
    await sql`update users set created_at = ${longAgo}, last_login_at = ${longAgo} where id = ${user.id}`.execute(t.container.db);
    await sql`update refresh_tokens set created_at = ${longAgo} where family_id in (select id from refresh_token_families where user_id = ${user.id})`.execute(t.container.db);
    await runJob();
    expect(await statusOf(user.id)).toBe('disabled');

    expect((await withToken()).statusCode).toBe(401);
    expect((await withKey()).statusCode).toBe(401);
    const refresh = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: json, payload: { refreshToken: tokens.refreshToken }, remoteAddress: freshIp() });
    expect(refresh.statusCode).toBe(401);
    const families = await t.container.db.selectFrom('refreshTokenFamilies').select(['revokedAt', 'revokedReason']).where('userId', '=', user.id).execute();
    expect(families.length).toBeGreaterThan(0);
    for (const family of families) expect(family).toMatchObject({ revokedAt: expect.any(Date), revokedReason: 'user-inactive' });
  });
});
