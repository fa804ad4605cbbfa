import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';
import { addMember, bearer, createOrg, createUserWithPassword, freshIp, json, login, orgIdBySlug, roleIn } from '../setup/identity-factory.js';

/**
 * Platform user administration (issue 3): super-admins list, read, disable, enable and delete
 * accounts; a disabled or deleted account's access tokens, refresh tokens and API keys stop at
 * once; nobody disables or deletes themselves, the last super-admin or an organisation's last owner.
 */

interface UserDetail {
  id: string;
  email: string;
  displayName: string;
  status: string;
  platformRole: string | null;
  mustChangePassword: boolean;
  lastLoginAt: string | null;
  version: number;
  organisations: Array<{ id: string; slug: string; role: string }>;
}

const PASSWORD = 'a long enough passphrase for tests 31';
let t: TestApp;
let root: string;
let rootId: string;
let defaultOrgId: string;
let seq = 0;
const email = (label: string) => `${label}.${++seq}@example.test`;

const api = (method: 'GET' | 'POST' | 'DELETE' | 'PATCH', url: string, token: string, extra: Record<string, string> = {}, payload?: unknown) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: { ...bearer(token, extra), ...(payload ? json : {}) }, ...(payload ? { payload: payload as object } : {}) });

async function member(role: 'viewer' | 'red-teamer' | 'admin' | 'owner' = 'red-teamer') {
  const address = email(role);
  const id = await createUserWithPassword(t, address, PASSWORD);
  await addMember(t, defaultOrgId, id, role);
  return { id, email: address, tokens: await login(t, address, PASSWORD) };
}

const familiesLive = async (userId: string) =>
  Number((await sql<{ n: string }>`select count(*) as n from refresh_token_families where user_id = ${userId} and revoked_at is null`.execute(t.container.db)).rows[0]!.n);

beforeAll(async () => {
  t = await createTestApp();
  defaultOrgId = await orgIdBySlug(t, 'default');
  root = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  rootId = (await api('GET', '/users/me', root)).json<{ id: string }>().id;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('reading users', () => {
  it('[ASVS 15.3.1] lists every live user page by page, without hashes or blind indexes', async () => {
    const ids = [await createUserWithPassword(t, email('list'), PASSWORD), await createUserWithPassword(t, email('list'), PASSWORD)];
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await api('GET', `/users?limit=1${cursor ? `&cursor=${cursor}` : ''}`, root);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json<{ items: Array<Record<string, unknown>>; nextCursor: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(1);
      for (const item of page.items) {
        expect(Object.keys(item).sort()).toEqual(
          ['createdAt', 'displayName', 'email', 'id', 'lastLoginAt', 'mustChangePassword', 'platformRole', 'status', 'updatedAt', 'version'],
        );
        seen.push(item.id as string);
      }
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(seen).toEqual(expect.arrayContaining([rootId, ...ids]));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('reads one user with organisations, roles and an ETag; an unknown id is 404', async () => {
    const { id, email: address } = await member('viewer');
    const response = await api('GET', `/users/${id}`, root);
    expect(response.statusCode, response.body).toBe(200);
    const user = response.json<UserDetail>();
    expect(user).toMatchObject({ id, email: address, status: 'active', platformRole: null, mustChangePassword: false });
    expect(user.lastLoginAt).not.toBeNull();
    expect(user.organisations).toEqual([expect.objectContaining({ id: defaultOrgId, slug: 'default', role: 'viewer' })]);
    expect(response.headers.etag).toBe(`"v${user.version}"`);
    const missing = await api('GET', '/users/01900000-0000-7000-8000-000000000000', root);
    expect(missing.statusCode).toBe(404);
    expect(missing.json<{ code: string }>().code).toBe('not_found');
  });

  it('[ASVS 8.2.1] organisation owners and admins are not platform administrators: every user-admin route is 403', async () => {
    const owner = await member('owner');
    const target = await member('viewer');
    const calls = [
      api('GET', '/users', owner.tokens.accessToken),
      api('GET', `/users/${target.id}`, owner.tokens.accessToken),
      api('POST', `/users/${target.id}/disable`, owner.tokens.accessToken),
      api('POST', `/users/${target.id}/enable`, owner.tokens.accessToken),
      api('DELETE', `/users/${target.id}`, owner.tokens.accessToken, { 'if-match': '"v1"' }),
    ];
    for (const response of await Promise.all(calls)) expect(response.statusCode, response.body).toBe(403);
    expect((await api('GET', '/users/me', target.tokens.accessToken)).statusCode).toBe(200);
  });
});

describe('disabling and enabling', () => {
  it('[ASVS 7.4.2] [ASVS 8.3.2] a disabled user is refused at once: access token, refresh token, API key and login', async () => {
    const user = await member('red-teamer');
    const key = await api('POST', '/api-keys', user.tokens.accessToken, {}, { name: 'ci', scopes: ['orgs:read'] });
    expect(key.statusCode, key.body).toBe(201);
    const apiKey = key.json<{ key: string }>().key;
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: { 'x-api-key': apiKey } })).statusCode).toBe(200);
    expect(await familiesLive(user.id)).toBe(1);

    const disabled = await api('POST', `/users/${user.id}/disable`, root);
    expect(disabled.statusCode, disabled.body).toBe(200);
    expect(disabled.json<UserDetail>().status).toBe('disabled');
    expect(disabled.headers.etag).toBe(`"v${disabled.json<UserDetail>().version}"`);

    expect((await api('GET', '/users/me', user.tokens.accessToken)).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: { 'x-api-key': apiKey } })).statusCode).toBe(401);
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: json, payload: { refreshToken: user.tokens.refreshToken }, remoteAddress: freshIp() });
    expect(refreshed.statusCode).toBe(401);
    const relogin = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: user.email, password: PASSWORD }, remoteAddress: freshIp() });
    expect(relogin.statusCode).toBe(401);
    expect(await familiesLive(user.id)).toBe(0);
    const row = await sql<{ status: string }>`select status from users where id = ${user.id}`.execute(t.container.db);
    expect(row.rows[0]!.status).toBe('disabled');
  });

  it('enabling restores login (and the API key), but not the tokens revoked by the disable', async () => {
    const user = await member('red-teamer');
    const apiKey = (await api('POST', '/api-keys', user.tokens.accessToken, {}, { name: 'ci', scopes: ['orgs:read'] })).json<{ key: string }>().key;
    expect((await api('POST', `/users/${user.id}/disable`, root)).statusCode).toBe(200);
    const enabled = await api('POST', `/users/${user.id}/enable`, root);
    expect(enabled.statusCode, enabled.body).toBe(200);
    expect(enabled.json<UserDetail>().status).toBe('active');

    const fresh = await login(t, user.email, PASSWORD);
    expect((await api('GET', '/users/me', fresh.accessToken)).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: { 'x-api-key': apiKey } })).statusCode).toBe(200);
    expect((await api('GET', '/users/me', user.tokens.accessToken)).statusCode).toBe(401);
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: json, payload: { refreshToken: user.tokens.refreshToken }, remoteAddress: freshIp() });
    expect(refreshed.statusCode).toBe(401);
  });

  it('refuses disabling or deleting yourself (409), and changes nothing', async () => {
    const self = await api('POST', `/users/${rootId}/disable`, root);
    expect(self.statusCode).toBe(409);
    expect(self.json<{ code: string }>().code).toBe('cannot_disable_self');
    const remove = await api('DELETE', `/users/${rootId}`, root, { 'if-match': '"v1"' });
    expect(remove.statusCode).toBe(409);
    expect(remove.json<{ code: string }>().code).toBe('cannot_delete_self');
    expect((await api('GET', '/users/me', root)).statusCode).toBe(200);
  });

  it('[ASVS 2.3.4] two super-admins disabling each other at once: one wins, one active super-admin always remains', async () => {
    const other = email('admin');
    const otherId = await createUserWithPassword(t, other, PASSWORD, { platformRole: 'super-admin' });
    const otherToken = (await login(t, other, PASSWORD)).accessToken;
    // Every other super-admin is out of service, so these two are the last.
    await sql`update users set status = 'disabled' where platform_role = 'super-admin' and id not in (${rootId}, ${otherId})`.execute(t.container.db);
    const [a, b] = await Promise.all([api('POST', `/users/${otherId}/disable`, root), api('POST', `/users/${rootId}/disable`, otherToken)]);
    // The loser is refused either by the rule (409, both requests passed authentication first) or,
    // when the winner committed before it was authenticated, because its own account is now disabled (401).
    const loser = [a, b].find((response) => response.statusCode !== 200)!;
    expect([a.statusCode, b.statusCode].filter((status) => status === 200)).toHaveLength(1);
    if (loser.statusCode === 409) expect(loser.json<{ code: string }>().code).toBe('last_super_admin');
    else expect(loser.statusCode).toBe(401);
    const active = await sql<{ id: string }>`select id from users where platform_role = 'super-admin' and status = 'active' and deleted_at is null`.execute(t.container.db);
    expect(active.rows).toHaveLength(1);
    // Restore: whichever super-admin remains re-enables the other.
    const survivor = active.rows[0]!.id === rootId ? root : otherToken;
    const disabled = active.rows[0]!.id === rootId ? otherId : rootId;
    expect((await api('POST', `/users/${disabled}/enable`, survivor)).statusCode).toBe(200);
    if (disabled === rootId) root = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;

    // The rule itself, without the authentication layer: two transactions disabling each other at once.
    const service = t.container.services.usersAdmin;
    const as = (userId: string) => ({ type: 'user' as const, id: userId, userId, permissions: new Set(['platform:users:manage']) });
    const outcomes = await Promise.allSettled([
      t.container.db.transaction().execute((tx) => service.disable(tx, as(rootId), otherId)),
      t.container.db.transaction().execute((tx) => service.disable(tx, as(otherId), rootId)),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const refusal = outcomes.find((outcome) => outcome.status === 'rejected')!;
    expect((refusal.reason as { code: string }).code).toBe('last_super_admin');
    const remaining = await sql<{ id: string }>`select id from users where platform_role = 'super-admin' and status = 'active' and deleted_at is null`.execute(t.container.db);
    expect(remaining.rows).toHaveLength(1);
    await sql`update users set status = 'active' where id in (${rootId}, ${otherId})`.execute(t.container.db);
    await t.container.services.access.invalidate(rootId);
    await t.container.services.access.invalidate(otherId);
    root = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  });

  it('disabling an unknown user is 404', async () => {
    const response = await api('POST', '/users/01900000-0000-7000-8000-000000000000/disable', root);
    expect(response.statusCode).toBe(404);
  });
});

describe('deleting', () => {
  it('needs If-Match (428) with the current version (412)', async () => {
    const { id } = await member('viewer');
    expect((await api('DELETE', `/users/${id}`, root)).statusCode).toBe(428);
    const stale = await api('DELETE', `/users/${id}`, root, { 'if-match': '"v999"' });
    expect(stale.statusCode).toBe(412);
    expect((await api('GET', `/users/${id}`, root)).statusCode).toBe(200);
  });

  it('refuses deleting the last owner of a live organisation (409 last_owner) until another owner exists', async () => {
    const owner = await member('viewer');
    const orgId = await createOrg(t, `solo-${++seq}`, [owner.id]);
    const version = (await api('GET', `/users/${owner.id}`, root)).json<UserDetail>().version;
    const refused = await api('DELETE', `/users/${owner.id}`, root, { 'if-match': `"v${version}"` });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json<{ code: string }>().code).toBe('last_owner');
    expect(await roleIn(t, orgId, owner.id)).toBe('owner');

    const second = await createUserWithPassword(t, email('second'), PASSWORD);
    await addMember(t, orgId, second, 'owner');
    const deleted = await api('DELETE', `/users/${owner.id}`, root, { 'if-match': `"v${version}"` });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(await roleIn(t, orgId, second)).toBe('owner');
  });

  it('[ASVS 7.4.2] deletes the account and its memberships, ends its tokens and keys, and frees nothing else', async () => {
    const user = await member('red-teamer');
    const colleague = await member('viewer');
    const apiKey = (await api('POST', '/api-keys', user.tokens.accessToken, {}, { name: 'ci', scopes: ['orgs:read'] })).json<{ key: string }>().key;
    const version = (await api('GET', `/users/${user.id}`, root)).json<UserDetail>().version;

    const deleted = await api('DELETE', `/users/${user.id}`, root, { 'if-match': `"v${version}"` });
    expect(deleted.statusCode, deleted.body).toBe(204);

    expect((await api('GET', '/users/me', user.tokens.accessToken)).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: { 'x-api-key': apiKey } })).statusCode).toBe(401);
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: json, payload: { refreshToken: user.tokens.refreshToken }, remoteAddress: freshIp() });
    expect(refreshed.statusCode).toBe(401);
    const relogin = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: user.email, password: PASSWORD }, remoteAddress: freshIp() });
    expect(relogin.statusCode).toBe(401);
    expect((await api('GET', `/users/${user.id}`, root)).statusCode).toBe(404);
    expect(await roleIn(t, defaultOrgId, user.id)).toBeNull();
    expect(await familiesLive(user.id)).toBe(0);

    // Soft delete: the row stays (audit, foreign keys); the organisation, its other members and the admin are untouched.
    const row = await sql<{ deleted_at: Date | null }>`select deleted_at from users where id = ${user.id}`.execute(t.container.db);
    expect(row.rows[0]!.deleted_at).not.toBeNull();
    expect(await roleIn(t, defaultOrgId, colleague.id)).toBe('viewer');
    expect((await api('GET', '/users/me', colleague.tokens.accessToken)).statusCode).toBe(200);
    expect((await api('GET', `/orgs/${defaultOrgId}`, root)).statusCode).toBe(200);
    const listed = (await api('GET', '/users?limit=100', root)).json<{ items: Array<{ id: string }> }>().items.map((item) => item.id);
    expect(listed).not.toContain(user.id);
    expect(listed).toContain(colleague.id);
  });
});
