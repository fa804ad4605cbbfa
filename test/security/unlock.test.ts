import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgRole } from '../../src/db/schema.js';
import { newId } from '../../src/platform/ids.js';
import { readAudit } from '../setup/audit-trail.js';
import { BOOTSTRAP_ADMIN, createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';

/**
 * Administrator unlock (`POST /api/v1/users/:id/unlock`) through app.inject on the built app:
 * platform administrators reach every account, organisation owners and admins only members of
 * their active organisation (others answer 404), everyone else 403; every lift is an auth event.
 * Runs on embedded PGlite, and on PostgreSQL + Redis when DATABASE_URL/REDIS_URL are set.
 */

type Response = Awaited<ReturnType<TestApp['app']['inject']>>;

const MAX_FAILURES = 3;
const PASSWORD = 'lantern quarry velvet 1187';
const json = { 'content-type': 'application/json' };

const policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-unlock-policy-'));
let t: TestApp;
let seq = 0;
const freshEmail = (label: string) => `${label}.${++seq}@example.test`;
const freshIp = () => `203.0.113.${(++seq % 250) + 1}`;
let defaultOrgId: string;
let otherOrgId: string;
let rootToken: string;
let orgAdminToken: string;
let orgAdminId: string;
let viewerToken: string;

const login = (email: string, password: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: freshIp(), headers: json, payload: { email, password } });

async function tokenOf(email: string, password: string): Promise<string> {
  const response = await login(email, password);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ accessToken: string }>().accessToken;
}

const unlock = (userId: string, token?: string, ip = freshIp()) =>
  t.app.inject({ method: 'POST', url: `/api/v1/users/${userId}/unlock`, remoteAddress: ip, headers: token ? { authorization: `Bearer ${token}` } : {} });

const expectProblem = (response: Response, status: number, code?: string) => {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  if (code) expect(response.json<{ code: string }>().code).toBe(code);
};

async function createMember(email: string, orgId: string | null, role: OrgRole): Promise<string> {
  const id = await createTestUser(t, email);
  const passwordHash = await t.container.passwordHasher.hash(PASSWORD);
  await t.container.db.updateTable('users').set({ passwordHash }).where('id', '=', id).execute();
  if (orgId) await t.container.db.transaction().execute((tx) => t.container.repos.memberships.insert(tx, newId(), { orgId, userId: id, role }, null, new Date()));
  return id;
}

/** Locks the account the way an attacker would: MAX_FAILURES wrong passwords; then even the right one fails. */
async function lockOut(email: string) {
  for (let i = 0; i < MAX_FAILURES; i++) expectProblem(await login(email, 'wrong password entirely'), 401, 'invalid_credentials');
  expectProblem(await login(email, PASSWORD), 401, 'invalid_credentials');
}

/** The audit events that record a lifted lock of this account. */
const unlockEvents = (userId: string) => readAudit(t, { action: 'auth.account.unlocked', resourceId: userId });

beforeAll(async () => {
  const policyFile = path.join(policyDir, 'policy.yaml');
  writeFileSync(policyFile, `lockout:\n  maxFailures: ${MAX_FAILURES}\nrateLimits:\n  authentication:\n    limit: 1000\n    windowSeconds: 60\n`);
  t = await createTestApp({ env: { POLICY_FILE: policyFile } });
  defaultOrgId = (await sql<{ id: string }>`select id from organisations where slug = 'default'`.execute(t.container.db)).rows[0]!.id;
  otherOrgId = newId();
  await t.container.db.transaction().execute((tx) => t.container.repos.orgs.insert(tx, otherOrgId, { name: 'Other organisation', slug: 'other' }, null, new Date()));
  rootToken = await tokenOf(BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
  const adminEmail = freshEmail('org.admin');
  orgAdminId = await createMember(adminEmail, defaultOrgId, 'admin');
  orgAdminToken = await tokenOf(adminEmail, PASSWORD);
  const viewerEmail = freshEmail('viewer');
  await createMember(viewerEmail, defaultOrgId, 'viewer');
  viewerToken = await tokenOf(viewerEmail, PASSWORD);
}, 120_000);

afterAll(async () => {
  await t?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

describe('[ASVS 6.3.1] administrators lift a lockout', () => {
  it('an organisation admin unlocks a member of their organisation: 204, the member signs in, and the lock and unlock are auth events', async () => {
    const email = freshEmail('member');
    const userId = await createMember(email, defaultOrgId, 'red-teamer');
    await lockOut(email);

    const ip = '203.0.113.250';
    const response = await unlock(userId, orgAdminToken, ip);
    expect(response.statusCode, response.body).toBe(204);
    expect(response.body).toBe('');
    expect((await login(email, PASSWORD)).statusCode).toBe(200);

    // [ASVS 16.3.1] lock (keyed by the address) and unlock (with actor, address and request id) are recorded.
    expect(await readAudit(t, { action: 'auth.account.locked', subjectEmail: email })).toHaveLength(1);
    const [event] = await unlockEvents(userId);
    expect(event).toMatchObject({ resourceId: userId, actorId: orgAdminId, clientIp: ip, requestId: response.headers['x-request-id'], detail: { via: 'admin' } });
    // The administrator's write is an event of its own, in the same transaction.
    expect(await readAudit(t, { action: 'user.unlocked', requestId: response.headers['x-request-id'] as string })).toMatchObject([{ resourceId: userId, actorId: orgAdminId, outcome: 'success' }]);
  });

  it('a platform super-admin unlocks anyone, even outside their organisations', async () => {
    const email = freshEmail('outsider');
    const userId = await createMember(email, otherOrgId, 'owner');
    await lockOut(email);
    expect((await unlock(userId, rootToken)).statusCode).toBe(204);
    expect((await login(email, PASSWORD)).statusCode).toBe(200);
    expect(await unlockEvents(userId)).toHaveLength(1);
  });

  it('[ASVS 8.2.1] a platform super-admin who belongs to no organisation may unlock too (the route takes either permission)', async () => {
    const adminEmail = freshEmail('platform-only');
    const adminId = await createMember(adminEmail, null, 'viewer');
    await t.container.db.updateTable('users').set({ platformRole: 'super-admin' }).where('id', '=', adminId).execute();
    const email = freshEmail('locked-by-platform');
    const userId = await createMember(email, otherOrgId, 'viewer');
    await lockOut(email);
    expect((await unlock(userId, await tokenOf(adminEmail, PASSWORD))).statusCode).toBe(204);
    expect((await login(email, PASSWORD)).statusCode).toBe(200);
    expect(await unlockEvents(userId)).toMatchObject([{ actorId: adminId }]);
  });

  it('is idempotent: an account without a lock answers 204 and no event is recorded (nothing changed)', async () => {
    const email = freshEmail('unlocked');
    const userId = await createMember(email, defaultOrgId, 'viewer');
    expect((await unlock(userId, orgAdminToken)).statusCode).toBe(204);
    expect((await unlock(userId, orgAdminToken)).statusCode).toBe(204);
    expect(await unlockEvents(userId)).toEqual([]);
    // Each call is still an administrator's write on record.
    expect(await readAudit(t, { action: 'user.unlocked', resourceId: userId })).toHaveLength(2);
    expect((await login(email, PASSWORD)).statusCode).toBe(200);
  });
});

describe('who may unlock whom', () => {
  it('[ASVS 8.2.2] an organisation admin cannot unlock a user of another organisation: 404, and the lock stays', async () => {
    const email = freshEmail('foreign');
    const userId = await createMember(email, otherOrgId, 'viewer');
    await lockOut(email);
    expectProblem(await unlock(userId, orgAdminToken), 404, 'not_found');
    expectProblem(await login(email, PASSWORD), 401, 'invalid_credentials');
    expect(await unlockEvents(userId)).toEqual([]);
  });

  it('[ASVS 8.2.2] the other organisation’s user answers exactly like an account that does not exist', async () => {
    const userId = await createMember(freshEmail('foreign.same'), otherOrgId, 'viewer');
    const foreign = await unlock(userId, orgAdminToken);
    const missing = await unlock(newId(), orgAdminToken);
    expect(foreign.statusCode).toBe(404);
    const strip = (response: Response) => {
      const { requestId: _r, instance: _i, ...rest } = response.json<Record<string, unknown>>();
      return rest;
    };
    expect(strip(foreign)).toEqual(strip(missing));
  });

  it('[ASVS 8.2.1] a viewer gets 403 and an anonymous caller 401; the lock stays', async () => {
    const email = freshEmail('target');
    const userId = await createMember(email, defaultOrgId, 'viewer');
    await lockOut(email);
    expectProblem(await unlock(userId, viewerToken), 403, 'forbidden');
    expectProblem(await unlock(userId), 401);
    expectProblem(await login(email, PASSWORD), 401, 'invalid_credentials');
  });

  it('an unknown user id answers 404, a malformed one 422', async () => {
    expectProblem(await unlock(newId(), rootToken), 404, 'not_found');
    expect((await unlock('not-a-uuid', rootToken)).statusCode).toBe(422);
  });
});
