import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { addMember, bearer, createOrg, createUserWithPassword, json, login } from '../setup/identity-factory.js';

/**
 * `GET /users/me` is served from a short-lived cache (issue 3 benchmark). These tests prove that every
 * change the profile shows is visible on the very next request, and that the cache holds no plaintext.
 */

const PASSWORD = 'a perfectly ordinary passphrase 404';
let t: TestApp;
let ownerId: string;
let memberId: string;
let orgId: string;

interface Me {
  displayName: string;
  email: string;
  organisations: Array<{ id: string; name: string; role: string }>;
}

const me = async (token: string) => {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Me>();
};

beforeAll(async () => {
  t = await createTestApp();
  ownerId = await createUserWithPassword(t, 'cache-owner@example.test', PASSWORD, { displayName: 'Cache Owner' });
  memberId = await createUserWithPassword(t, 'cache-member@example.test', PASSWORD, { displayName: 'Cache Member' });
  orgId = await createOrg(t, 'cached-org', [ownerId]);
  await addMember(t, orgId, memberId, 'viewer');
});

afterAll(async () => {
  await t?.close();
});

describe('profile cache', () => {
  it('[ASVS 14.2.4] keeps the cached profile encrypted: no email or name in the shared store', async () => {
    const { accessToken } = await login(t, 'cache-member@example.test', PASSWORD);
    await me(accessToken);
    const raw = await t.container.store.get(`users:profile:v1:${memberId}`);
    expect(raw).not.toBeNull();
    for (const secret of ['cache-member', 'Cache Member', 'example.test', 'cached-org']) expect(raw).not.toContain(secret);
    expect(Buffer.from(raw!.slice(raw!.indexOf(':') + 1), 'base64').toString('latin1')).not.toContain('cache-member');
  });

  it('shows your own display-name change on the next request', async () => {
    const { accessToken } = await login(t, 'cache-member@example.test', PASSWORD);
    expect((await me(accessToken)).displayName).toBe('Cache Member');
    const patch = await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: { ...json, ...bearer(accessToken) }, payload: { displayName: 'Renamed Member' } });
    expect(patch.statusCode, patch.body).toBe(200);
    expect((await me(accessToken)).displayName).toBe('Renamed Member');
  });

  it('[ASVS 8.3.2] shows a role change made by an administrator on the next request', async () => {
    const member = (await login(t, 'cache-member@example.test', PASSWORD)).accessToken;
    const owner = (await login(t, 'cache-owner@example.test', PASSWORD)).accessToken;
    expect((await me(member)).organisations.find((org) => org.id === orgId)?.role).toBe('viewer');
    const change = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/orgs/${orgId}/members/${memberId}`,
      headers: { ...json, ...bearer(owner, { 'x-organization-id': orgId }) },
      payload: { role: 'reviewer' },
    });
    expect(change.statusCode, change.body).toBe(200);
    expect((await me(member)).organisations.find((org) => org.id === orgId)?.role).toBe('reviewer');
  });

  it("shows an organisation's new name to every member on their next request, and drops a deleted one", async () => {
    const member = (await login(t, 'cache-member@example.test', PASSWORD)).accessToken;
    const owner = (await login(t, 'cache-owner@example.test', PASSWORD)).accessToken;
    expect((await me(member)).organisations.find((org) => org.id === orgId)?.name).toBe('cached-org');
    const rename = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/orgs/${orgId}`,
      headers: { ...json, ...bearer(owner, { 'x-organization-id': orgId }) },
      payload: { name: 'Renamed Org', version: 1 },
    });
    expect(rename.statusCode, rename.body).toBe(200);
    expect((await me(member)).organisations.find((org) => org.id === orgId)?.name).toBe('Renamed Org');
    const remove = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/orgs/${orgId}`,
      headers: bearer(owner, { 'x-organization-id': orgId, 'if-match': rename.headers.etag as string }),
    });
    expect(remove.statusCode, remove.body).toBe(204);
    expect((await me(member)).organisations.map((org) => org.id)).not.toContain(orgId);
    // [ASVS 8.3.2] and a deleted organisation grants nothing any more, at once.
    const inDeleted = await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(member, { 'x-organization-id': orgId }) });
    expect(inDeleted.statusCode, inDeleted.body).toBe(404);
  });
});
