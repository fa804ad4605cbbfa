import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/http/principal.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';
import { addMember, bearer, createOrg, createUserWithPassword, json, login, orgIdBySlug, roleIn } from '../setup/identity-factory.js';

/**
 * Role escalation, mass assignment and the tenant boundary on the identity routes of issue 3:
 * PATCH /users/me and /orgs/{id}/members. Runs on embedded PGlite, and on PostgreSQL + Redis when
 * DATABASE_URL/REDIS_URL are set (there the concurrent cases really race on row locks).
 */

type Role = 'owner' | 'admin' | 'red-teamer' | 'reviewer' | 'auditor' | 'viewer';
type Response = Awaited<ReturnType<TestApp['app']['inject']>>;

const PASSWORD = 'a long enough passphrase for tests 31';
let t: TestApp;
let root: string;
let rootId: string;
let defaultOrgId: string;
let seq = 0;

const api = (method: 'GET' | 'PATCH' | 'DELETE' | 'POST', url: string, headers: Record<string, string>, payload?: unknown) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: { ...headers, ...(payload ? json : {}) }, ...(payload ? { payload: payload as object } : {}) });

async function user(label: string, options: { mustChangePassword?: boolean } = {}) {
  const email = `${label}.${++seq}@example.test`;
  const id = await createUserWithPassword(t, email, PASSWORD, options);
  return { id, email };
}

async function member(role: Role, orgId = defaultOrgId) {
  const created = await user(role);
  await addMember(t, orgId, created.id, role);
  return { ...created, token: (await login(t, created.email, PASSWORD)).accessToken };
}

const expectCode = (response: Response, status: number, code: string) => {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json<{ code: string }>().code).toBe(code);
};

const userRow = async (id: string) =>
  (await sql<Record<string, unknown>>`select email, email_index, display_name, password_hash, platform_role, status, must_change_password, version, deleted_at from users where id = ${id}`.execute(t.container.db)).rows[0];

beforeAll(async () => {
  t = await createTestApp();
  defaultOrgId = await orgIdBySlug(t, 'default');
  root = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  rootId = (await api('GET', '/users/me', bearer(root))).json<{ id: string }>().id;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('role escalation on /orgs/{id}/members', () => {
  it('[ASVS 8.2.1] viewers, auditors, reviewers and red-teamers cannot change anyone’s role, their own included', async () => {
    const target = await member('viewer');
    for (const role of ['viewer', 'auditor', 'reviewer', 'red-teamer'] as const) {
      const actor = await member(role);
      for (const [userId, wanted] of [[target.id, 'admin'], [actor.id, 'owner'], [actor.id, 'admin']] as const) {
        expectCode(await api('PATCH', `/orgs/${defaultOrgId}/members/${userId}`, bearer(actor.token), { role: wanted }), 403, 'forbidden');
      }
      expect(await roleIn(t, defaultOrgId, actor.id)).toBe(role);
    }
    expect(await roleIn(t, defaultOrgId, target.id)).toBe('viewer');
  });

  it('[ASVS 8.2.1] an admin cannot make anyone owner, touch an owner, or raise their own role', async () => {
    const admin = await member('admin');
    const viewer = await member('viewer');
    const path = (userId: string) => `/orgs/${defaultOrgId}/members/${userId}`;
    expectCode(await api('PATCH', path(viewer.id), bearer(admin.token), { role: 'owner' }), 403, 'role_not_grantable');
    expectCode(await api('PATCH', path(rootId), bearer(admin.token), { role: 'viewer' }), 403, 'role_not_grantable');
    expectCode(await api('PATCH', path(rootId), bearer(admin.token), { role: 'admin' }), 403, 'role_not_grantable');
    expectCode(await api('DELETE', path(rootId), bearer(admin.token)), 403, 'role_not_grantable');
    expectCode(await api('PATCH', path(admin.id), bearer(admin.token), { role: 'owner' }), 403, 'own_role_escalation');
    expect(await roleIn(t, defaultOrgId, viewer.id)).toBe('viewer');
    expect(await roleIn(t, defaultOrgId, rootId)).toBe('owner');
    expect(await roleIn(t, defaultOrgId, admin.id)).toBe('admin');
  });

  it('[ASVS 8.3.1] a platform super-admin with a lesser role in the organisation still cannot raise their own role', async () => {
    const owner = await member('viewer');
    const orgId = await createOrg(t, `own-${++seq}`, [owner.id]);
    await addMember(t, orgId, rootId, 'viewer');
    const response = await api('PATCH', `/orgs/${orgId}/members/${rootId}`, bearer(root), { role: 'owner' });
    expectCode(response, 403, 'own_role_escalation');
    expect(await roleIn(t, orgId, rootId)).toBe('viewer');
  });

  it('[ASVS 2.3.2] the last owner can be neither demoted nor removed, not even by themselves or a super-admin (409 last_owner)', async () => {
    const owner = await member('viewer');
    const orgId = await createOrg(t, `last-${++seq}`, [owner.id]);
    const asOwner = bearer(owner.token, { 'x-organization-id': orgId });
    expectCode(await api('PATCH', `/orgs/${orgId}/members/${owner.id}`, asOwner, { role: 'admin' }), 409, 'last_owner');
    expectCode(await api('DELETE', `/orgs/${orgId}/members/${owner.id}`, asOwner), 409, 'last_owner');
    expectCode(await api('PATCH', `/orgs/${orgId}/members/${owner.id}`, bearer(root), { role: 'viewer' }), 409, 'last_owner');
    expectCode(await api('DELETE', `/orgs/${orgId}/members/${owner.id}`, bearer(root)), 409, 'last_owner');
    expect(await roleIn(t, orgId, owner.id)).toBe('owner');
  });

  it('[ASVS 2.3.4] two owners demoting each other at once leave at least one owner', async () => {
    const a = await member('viewer');
    const b = await member('viewer');
    const orgId = await createOrg(t, `race-${++seq}`, [a.id, b.id]);
    const [first, second] = await Promise.all([
      api('PATCH', `/orgs/${orgId}/members/${b.id}`, bearer(a.token, { 'x-organization-id': orgId }), { role: 'admin' }),
      api('PATCH', `/orgs/${orgId}/members/${a.id}`, bearer(b.token, { 'x-organization-id': orgId }), { role: 'admin' }),
    ]);
    expect([first.statusCode, second.statusCode].filter((status) => status === 200)).toHaveLength(1);
    // The loser is refused by the last-owner rule, or (when the winner committed first) as a fresh admin touching an owner.
    const loser = [first, second].find((response) => response.statusCode !== 200)!;
    expect(['last_owner', 'role_not_grantable']).toContain(loser.json<{ code: string }>().code);
    const owners = [await roleIn(t, orgId, a.id), await roleIn(t, orgId, b.id)].filter((role) => role === 'owner');
    expect(owners).toHaveLength(1);
  });

  it('[ASVS 2.3.4] concurrent demotions of the only two owners in two transactions: exactly one commits', async () => {
    const a = await user('race');
    const b = await user('race');
    const orgId = await createOrg(t, `tx-race-${++seq}`, [a.id, b.id]);
    const superAdmin: Principal = { type: 'user', id: rootId, userId: rootId, permissions: new Set(['platform:orgs:manage', 'members:manage']) };
    const members = t.container.services.members;
    const outcomes = await Promise.allSettled(
      [a.id, b.id].map((userId) => t.container.db.transaction().execute((tx) => members.changeRole(tx, superAdmin, orgId, userId, 'viewer'))),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect((outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'last_owner' });
    const owners = await sql`select 1 from memberships where org_id = ${orgId} and role = 'owner' and deleted_at is null`.execute(t.container.db);
    expect(owners.rows).toHaveLength(1);
  });
});

describe('mass assignment', () => {
  it('[ASVS 15.3.3] PATCH /users/me refuses every field but displayName and version (422) and changes nothing', async () => {
    const self = await member('viewer');
    const before = await userRow(self.id);
    const attempts: Array<Record<string, unknown>> = [
      { email: 'takeover@example.test' },
      { platformRole: 'super-admin' },
      { status: 'active' },
      { mustChangePassword: false },
      { passwordHash: '$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA' },
      { id: rootId },
      { displayName: 'Innocent', platformRole: 'super-admin' },
      { displayName: 'Innocent', organisations: [{ id: defaultOrgId, role: 'owner' }] },
    ];
    for (const payload of attempts) {
      const response = await api('PATCH', '/users/me', bearer(self.token), payload);
      expectCode(response, 422, 'validation_failed');
    }
    expect(await userRow(self.id)).toEqual(before);
    expect(await roleIn(t, defaultOrgId, self.id)).toBe('viewer');
  });

  it('[ASVS 15.3.3] PATCH /orgs/{id}/members/{userId} accepts the role only: another user, org or actor in the body is a 422', async () => {
    const admin = await member('admin');
    const target = await member('viewer');
    const other = await user('other');
    for (const payload of [{ role: 'reviewer', userId: other.id }, { role: 'reviewer', orgId: defaultOrgId }, { role: 'reviewer', createdBy: rootId }, { role: 'superuser' }, {}]) {
      expectCode(await api('PATCH', `/orgs/${defaultOrgId}/members/${target.id}`, bearer(admin.token), payload), 422, 'validation_failed');
    }
    expect(await roleIn(t, defaultOrgId, target.id)).toBe('viewer');
    expect(await roleIn(t, defaultOrgId, other.id)).toBeNull();
  });

  it('[ASVS 8.2.3] PATCH /users/me edits the caller’s own display name only, NFKC-normalised, with optional optimistic locking', async () => {
    const self = await member('viewer');
    const bystander = await member('viewer');
    const bystanderBefore = await userRow(bystander.id);
    const renamed = await api('PATCH', '/users/me', bearer(self.token), { displayName: '  Ｊａｎｅ Doe ' });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ id: self.id, email: self.email, displayName: 'Jane Doe', platformRole: null, mustChangePassword: false });
    expect(renamed.json<{ organisations: unknown[] }>().organisations).toEqual([expect.objectContaining({ id: defaultOrgId, role: 'viewer' })]);
    const etag = renamed.headers.etag as string;
    expect(etag).toMatch(/^"v\d+"$/);
    expect((await api('GET', '/users/me', bearer(self.token))).json<{ displayName: string }>().displayName).toBe('Jane Doe');

    expectCode(await api('PATCH', '/users/me', bearer(self.token, { 'if-match': '"v1"' }), { displayName: 'Stale' }), 412, 'precondition_failed');
    expectCode(await api('PATCH', '/users/me', bearer(self.token), { displayName: 'Stale', version: 1 }), 409, 'version_conflict');
    const locked = await api('PATCH', '/users/me', bearer(self.token, { 'if-match': etag }), { displayName: 'Jane' });
    expect(locked.statusCode, locked.body).toBe(200);
    expect(locked.headers.etag).not.toBe(etag);

    for (const displayName of ['   ', '', 'x'.repeat(201), 'bad\u0000name', 'bidi\u202Ename']) {
      expectCode(await api('PATCH', '/users/me', bearer(self.token), { displayName }), 422, 'validation_failed');
    }
    expect(await userRow(bystander.id)).toEqual(bystanderBefore);
  });

  it('[ASVS 8.2.1] a user with a pending forced password change cannot edit their profile; an API key never can', async () => {
    const forced = await user('forced', { mustChangePassword: true });
    await addMember(t, defaultOrgId, forced.id, 'red-teamer');
    const token = (await login(t, forced.email, PASSWORD)).accessToken;
    expectCode(await api('PATCH', '/users/me', bearer(token), { displayName: 'Nope' }), 403, 'password_change_required');

    const creator = await member('red-teamer');
    const refused = await api('POST', '/api-keys', bearer(creator.token), { name: 'ci', scopes: ['self:update'] });
    expect(refused.statusCode).toBe(422);
    const key = (await api('POST', '/api-keys', bearer(creator.token), { name: 'ci', scopes: ['orgs:read'] })).json<{ key: string }>().key;
    expectCode(await api('PATCH', '/users/me', { 'x-api-key': key }, { displayName: 'Nope' }), 403, 'forbidden');
    const row = await userRow(forced.id);
    expect(row!.mustChangePassword).toBe(true);
  });
});

describe('tenant boundary', () => {
  let otherOrgId: string;
  let otherOwner: { id: string; token: string };
  let otherViewer: { id: string; email: string; token: string };

  beforeAll(async () => {
    // A second organisation, created through the API by another platform administrator.
    const creator = await user('creator');
    await sql`update users set platform_role = 'super-admin' where id = ${creator.id}`.execute(t.container.db);
    const creatorToken = (await login(t, creator.email, PASSWORD)).accessToken;
    const created = await api('POST', '/orgs', bearer(creatorToken), { name: 'Other', slug: `other-${++seq}` });
    expect(created.statusCode, created.body).toBe(201);
    otherOrgId = created.json<{ id: string }>().id;
    otherOwner = { id: creator.id, token: creatorToken };
    otherViewer = await member('viewer', otherOrgId);
  });

  it('[ASVS 8.4.1] [ASVS 8.2.2] an owner of one organisation gets 404 on every member route of another, and changes nothing', async () => {
    const owner = await member('owner');
    const calls: Array<[string, Response]> = [
      ['list', await api('GET', `/orgs/${otherOrgId}/members`, bearer(owner.token))],
      ['patch', await api('PATCH', `/orgs/${otherOrgId}/members/${otherViewer.id}`, bearer(owner.token), { role: 'admin' })],
      ['delete', await api('DELETE', `/orgs/${otherOrgId}/members/${otherViewer.id}`, bearer(owner.token))],
      ['patch owner', await api('PATCH', `/orgs/${otherOrgId}/members/${otherOwner.id}`, bearer(owner.token), { role: 'viewer' })],
      ['header', await api('GET', `/orgs/${otherOrgId}/members`, bearer(owner.token, { 'x-organization-id': otherOrgId }))],
      ['member of other, via own org', await api('PATCH', `/orgs/${defaultOrgId}/members/${otherViewer.id}`, bearer(owner.token), { role: 'admin' })],
      ['unknown org', await api('GET', '/orgs/01900000-0000-7000-8000-000000000000/members', bearer(owner.token))],
    ];
    for (const [label, response] of calls) {
      expect(response.statusCode, label).toBe(404);
      expect(response.json<{ code: string }>().code, label).toBe('not_found');
    }
    expect(await roleIn(t, otherOrgId, otherViewer.id)).toBe('viewer');
    expect(await roleIn(t, otherOrgId, otherOwner.id)).toBe('owner');
    expect(await roleIn(t, defaultOrgId, otherViewer.id)).toBeNull();
  });

  it('[ASVS 8.4.1] a member of the other organisation gets 404 on this one, and an API key is held to its own organisation', async () => {
    const otherAdmin = await member('admin', otherOrgId);
    for (const response of [
      await api('GET', `/orgs/${defaultOrgId}/members`, bearer(otherViewer.token)),
      await api('DELETE', `/orgs/${defaultOrgId}/members/${rootId}`, bearer(otherViewer.token)),
      await api('GET', `/orgs/${defaultOrgId}/members`, bearer(otherAdmin.token)),
      await api('PATCH', `/orgs/${defaultOrgId}/members/${rootId}`, bearer(otherAdmin.token), { role: 'viewer' }),
      await api('DELETE', `/orgs/${defaultOrgId}/members/${rootId}`, bearer(otherAdmin.token)),
    ]) {
      expectCode(response, 404, 'not_found');
    }
    const admin = await member('admin');
    const created = await api('POST', '/api-keys', bearer(admin.token), { name: 'members', scopes: ['members:read', 'members:manage'] });
    expect(created.statusCode, created.body).toBe(201);
    const key = { 'x-api-key': created.json<{ key: string }>().key };
    expect((await api('GET', `/orgs/${defaultOrgId}/members`, key)).statusCode).toBe(200);
    expectCode(await api('GET', `/orgs/${otherOrgId}/members`, key), 404, 'not_found');
    expectCode(await api('PATCH', `/orgs/${otherOrgId}/members/${otherViewer.id}`, key, { role: 'admin' }), 404, 'not_found');
    expect(await roleIn(t, otherOrgId, otherViewer.id)).toBe('viewer');
    expect(await roleIn(t, defaultOrgId, rootId)).toBe('owner');
    // An API key may remove others within its scopes, but never make its owner leave.
    expectCode(await api('DELETE', `/orgs/${defaultOrgId}/members/${admin.id}`, key), 403, 'forbidden');
    expect(await roleIn(t, defaultOrgId, admin.id)).toBe('admin');
  });
});
