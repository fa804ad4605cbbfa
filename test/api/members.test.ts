import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';
import { addMember, bearer, createOrg, createUserWithPassword, json, login, orgIdBySlug, roleIn } from '../setup/identity-factory.js';
import { ORG_ROLES } from '../../src/modules/auth/permissions.js';
import { OrgRoleSchema } from '../../src/modules/orgs/members.schemas.js';

/**
 * Membership management (issue 3): list the members of your active organisation, change roles
 * within what you may grant, remove members or leave; changes apply to the member's next request.
 */

interface Member {
  id: string;
  email: string;
  displayName: string;
  role: string;
  createdAt: string;
  rawContent: boolean;
  rawContentGrantedAt: string | null;
}
type Role = (typeof ORG_ROLES)[number];

const PASSWORD = 'a long enough passphrase for tests 31';
let t: TestApp;
let root: string;
let defaultOrgId: string;
let seq = 0;

const api = (method: 'GET' | 'PATCH' | 'DELETE', url: string, token: string, payload?: unknown, extra: Record<string, string> = {}) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: { ...bearer(token, extra), ...(payload ? json : {}) }, ...(payload ? { payload: payload as object } : {}) });

async function member(role: Role, orgId = defaultOrgId) {
  const email = `${role}.${++seq}@example.test`;
  const id = await createUserWithPassword(t, email, PASSWORD, { displayName: `Member ${seq}` });
  await addMember(t, orgId, id, role);
  return { id, email, token: (await login(t, email, PASSWORD)).accessToken };
}

beforeAll(async () => {
  t = await createTestApp();
  defaultOrgId = await orgIdBySlug(t, 'default');
  root = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('listing members', () => {
  it('any member (members:read) lists the organisation page by page: user id, email, name, role, since', async () => {
    const viewer = await member('viewer');
    const admin = await member('admin');
    const seen: Member[] = [];
    let cursor: string | null = null;
    do {
      const response = await api('GET', `/orgs/${defaultOrgId}/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`, viewer.token);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json<{ items: Member[]; nextCursor: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.find((item) => item.id === admin.id)).toEqual({ id: admin.id, email: admin.email, displayName: expect.stringMatching(/^Member /), role: 'admin', createdAt: expect.any(String), rawContent: false, rawContentGrantedAt: null });
    expect(seen.find((item) => item.email === BOOTSTRAP_ADMIN.email)?.role).toBe('owner');
    expect(new Set(seen.map((item) => item.id)).size).toBe(seen.length);
  });

  it('the role schema offers exactly the roles of the role table', () => {
    expect(OrgRoleSchema.anyOf.map((literal: { const: string }) => literal.const)).toEqual([...ORG_ROLES]);
  });
});

describe('changing roles', () => {
  it('an owner changes a member’s role; the member sees it on their next request', async () => {
    const target = await member('viewer');
    expect((await api('GET', '/api-keys', target.token)).statusCode).toBe(403);
    const response = await api('PATCH', `/orgs/${defaultOrgId}/members/${target.id}`, root, { role: 'red-teamer' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<Member>()).toMatchObject({ id: target.id, email: target.email, role: 'red-teamer' });
    expect(await roleIn(t, defaultOrgId, target.id)).toBe('red-teamer');
    expect((await api('GET', '/api-keys', target.token)).statusCode).toBe(200);
  });

  it('[ASVS 8.3.2] a demoted admin’s very next request with the same access token is 403 on a members:manage route', async () => {
    const admin = await member('admin');
    const other = await member('viewer');
    expect((await api('PATCH', `/orgs/${defaultOrgId}/members/${other.id}`, admin.token, { role: 'reviewer' })).statusCode).toBe(200);
    expect((await api('PATCH', `/orgs/${defaultOrgId}/members/${admin.id}`, root, { role: 'viewer' })).statusCode).toBe(200);
    const after = await api('PATCH', `/orgs/${defaultOrgId}/members/${other.id}`, admin.token, { role: 'auditor' });
    expect(after.statusCode).toBe(403);
    expect(await roleIn(t, defaultOrgId, other.id)).toBe('reviewer');
  });

  it('an admin may grant admin and below, and demote themselves', async () => {
    const admin = await member('admin');
    const target = await member('viewer');
    expect((await api('PATCH', `/orgs/${defaultOrgId}/members/${target.id}`, admin.token, { role: 'admin' })).statusCode).toBe(200);
    expect((await api('PATCH', `/orgs/${defaultOrgId}/members/${admin.id}`, admin.token, { role: 'viewer' })).statusCode).toBe(200);
    expect(await roleIn(t, defaultOrgId, admin.id)).toBe('viewer');
  });

  it('setting the role a member already has changes nothing and answers 200', async () => {
    const target = await member('reviewer');
    const before = await sql<{ version: number }>`select version from memberships where user_id = ${target.id}`.execute(t.container.db);
    const response = await api('PATCH', `/orgs/${defaultOrgId}/members/${target.id}`, root, { role: 'reviewer' });
    expect(response.statusCode).toBe(200);
    const after = await sql<{ version: number }>`select version from memberships where user_id = ${target.id}`.execute(t.container.db);
    expect(after.rows[0]!.version).toBe(before.rows[0]!.version);
  });

  it('a user who is not a member of the organisation answers 404', async () => {
    const outsider = await createUserWithPassword(t, `outsider.${++seq}@example.test`, PASSWORD);
    const patch = await api('PATCH', `/orgs/${defaultOrgId}/members/${outsider}`, root, { role: 'viewer' });
    expect(patch.statusCode).toBe(404);
    expect((await api('DELETE', `/orgs/${defaultOrgId}/members/${outsider}`, root)).statusCode).toBe(404);
    expect(await roleIn(t, defaultOrgId, outsider)).toBeNull();
  });
});

describe('removing members', () => {
  it('an admin removes a member: 204, the membership is gone and their next request has no role there', async () => {
    const admin = await member('admin');
    const target = await member('red-teamer');
    expect((await api('GET', `/orgs/${defaultOrgId}/members`, target.token)).statusCode).toBe(200);
    const response = await api('DELETE', `/orgs/${defaultOrgId}/members/${target.id}`, admin.token);
    expect(response.statusCode, response.body).toBe(204);
    expect(await roleIn(t, defaultOrgId, target.id)).toBeNull();
    expect((await api('GET', `/orgs/${defaultOrgId}/members`, target.token)).statusCode).toBe(403);
  });

  it('any member may leave (their own user id), but not remove someone else without members:manage', async () => {
    const viewer = await member('viewer');
    const other = await member('viewer');
    const refused = await api('DELETE', `/orgs/${defaultOrgId}/members/${other.id}`, viewer.token);
    expect(refused.statusCode).toBe(403);
    expect(await roleIn(t, defaultOrgId, other.id)).toBe('viewer');
    expect((await api('DELETE', `/orgs/${defaultOrgId}/members/${viewer.id}`, viewer.token)).statusCode).toBe(204);
    expect(await roleIn(t, defaultOrgId, viewer.id)).toBeNull();
  });

  it('an owner may leave when another owner remains', async () => {
    const ownerA = await member('viewer');
    const ownerB = await member('viewer');
    const orgId = await createOrg(t, `pair-${++seq}`, [ownerA.id, ownerB.id]);
    const response = await api('DELETE', `/orgs/${orgId}/members/${ownerA.id}`, ownerA.token, undefined, { 'x-organization-id': orgId });
    expect(response.statusCode, response.body).toBe(204);
    expect(await roleIn(t, orgId, ownerB.id)).toBe('owner');
  });
});

describe('platform super-admin', () => {
  it('manages the members of an organisation they do not belong to, with owner rights', async () => {
    const owner = await member('viewer');
    const orgId = await createOrg(t, `managed-${++seq}`, [owner.id]);
    const invited = await createUserWithPassword(t, `managed.${++seq}@example.test`, PASSWORD);
    await addMember(t, orgId, invited, 'viewer');
    expect((await api('GET', `/orgs/${orgId}/members`, root)).statusCode).toBe(200);
    expect((await api('PATCH', `/orgs/${orgId}/members/${invited}`, root, { role: 'owner' })).statusCode).toBe(200);
    expect(await roleIn(t, orgId, invited)).toBe('owner');
    const rootMembership = await sql`select 1 from memberships m join users u on u.id = m.user_id where m.org_id = ${orgId} and u.platform_role = 'super-admin'`.execute(t.container.db);
    expect(rootMembership.rows).toHaveLength(0);
  });
});
