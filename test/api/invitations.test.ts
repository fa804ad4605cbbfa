import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.js';
import { BOOTSTRAP_ADMIN, createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';
import { readOutbox, tokenFromMail } from '../setup/mail-outbox.js';

/**
 * Invitations through the built app: invite → mail → accept → login, for a new and an existing
 * account; listing with derived statuses and pagination; revocation; supersession; conflicts.
 */

type Response = Awaited<ReturnType<TestApp['app']['inject']>>;
interface Invitation {
  id: string;
  email: string;
  role: string;
  status: string;
  expiresAt: string;
  createdAt: string;
}
interface Me {
  id: string;
  organisations: Array<{ id: string; name: string; role: string }>;
}

const PASSWORD = 'violet anchor mosaic drift 47';
let t: TestApp;
let rootToken: string;
let defaultOrgId: string;
let seq = 0;
const freshEmail = (label: string) => `${label}.${++seq}@example.test`;

const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, payload?: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({
    method,
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(payload === undefined ? {} : { payload: payload as object }),
  });

async function login(email: string, password: string): Promise<string> {
  const response = await inject('POST', '/api/v1/auth/login', undefined, { email, password });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ accessToken: string }>().accessToken;
}

const me = async (token: string, orgId?: string) => (await inject('GET', '/api/v1/users/me', token, undefined, orgId ? { 'x-organization-id': orgId } : {})).json<Me>();

async function invite(orgId: string, email: string, role: string, token = rootToken): Promise<Response> {
  return inject('POST', `/api/v1/orgs/${orgId}/invitations`, token, { email, role }, { 'x-organization-id': orgId });
}

async function latestToken(email: string): Promise<string> {
  const [mail] = await readOutbox(t, email);
  expect(mail).toBeDefined();
  return tokenFromMail(mail!.body);
}

beforeAll(async () => {
  t = await createTestApp();
  rootToken = await login(BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
  defaultOrgId = (await me(rootToken)).organisations[0]!.id;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('invite and accept', () => {
  it('a new person: invitation mail names the organisation and role, accepting creates the account, who can log in as a member', async () => {
    const email = freshEmail('Newcomer');
    const created = await invite(defaultOrgId, email, 'red-teamer');
    expect(created.statusCode, created.body).toBe(201);
    const invitation = created.json<Invitation>();
    expect(Object.keys(invitation).sort()).toEqual(['createdAt', 'email', 'expiresAt', 'id', 'role', 'status']);
    expect(invitation).toMatchObject({ email, role: 'red-teamer', status: 'pending' });
    // Default policy: 72 hours.
    expect(Date.parse(invitation.expiresAt) - Date.parse(invitation.createdAt)).toBe(72 * 3600 * 1000);

    const [mail] = await readOutbox(t, email);
    expect(mail).toMatchObject({ template: 'invitation', recipient: email });
    expect(mail!.body).toContain('"Default');
    expect(mail!.body).toContain('as red-teamer');
    const token = tokenFromMail(mail!.body);

    const accepted = await inject('POST', '/api/v1/invitations/accept', undefined, { token, displayName: 'New Comer', password: PASSWORD });
    expect(accepted.statusCode, accepted.body).toBe(201);
    const body = accepted.json<{ userId: string; orgId: string; role: string }>();
    expect(body).toEqual({ userId: expect.any(String), orgId: defaultOrgId, role: 'red-teamer' });

    // Case-insensitive email: the mixed-case invitation logs in with the lower-case address.
    const userToken = await login(email.toLowerCase(), PASSWORD);
    const profile = await me(userToken);
    expect(profile.id).toBe(body.userId);
    expect(profile.organisations).toEqual([expect.objectContaining({ id: defaultOrgId, role: 'red-teamer' })]);
    // The membership acts at once: a red-teamer reads the organisation's members.
    expect((await inject('GET', `/api/v1/orgs/${defaultOrgId}/members`, userToken)).statusCode).toBe(200);

    const listed = (await inject('GET', `/api/v1/orgs/${defaultOrgId}/invitations`, rootToken)).json<{ items: Invitation[] }>();
    expect(listed.items.find((item) => item.id === invitation.id)?.status).toBe('accepted');
  });

  it('an existing account: the token alone adds the membership; name and password stay as they were', async () => {
    const email = freshEmail('existing');
    const org = await inject('POST', '/api/v1/orgs', rootToken, { name: 'Second Org', slug: `second-${seq}` });
    expect(org.statusCode, org.body).toBe(201);
    const secondOrgId = org.json<{ id: string }>().id;
    rootToken = await login(BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
    await invite(defaultOrgId, email, 'viewer');
    const firstToken = await latestToken(email);
    // An invitation into another organisation leaves this one open (supersession is per organisation).
    expect((await invite(secondOrgId, email.toUpperCase(), 'reviewer')).statusCode).toBe(201);
    const [mail] = await readOutbox(t, email);
    expect(mail!.body).toContain('"Second Org" as reviewer');

    expect((await inject('POST', '/api/v1/invitations/accept', undefined, { token: firstToken, displayName: 'Exi', password: PASSWORD })).statusCode).toBe(201);
    const accepted = await inject('POST', '/api/v1/invitations/accept', undefined, { token: tokenFromMail(mail!.body), password: 'a different password 1234' });
    expect(accepted.statusCode, accepted.body).toBe(201);

    const userToken = await login(email, PASSWORD);
    const roles = Object.fromEntries((await me(userToken)).organisations.map((o) => [o.id, o.role]));
    expect(roles).toEqual({ [defaultOrgId]: 'viewer', [secondOrgId]: 'reviewer' });
    expect((await inject('POST', '/api/v1/auth/login', undefined, { email, password: 'a different password 1234' })).statusCode).toBe(401);
  });

  it('a new account needs displayName and password (422 names the field) and a password the policy accepts (422 names the rule)', async () => {
    const email = freshEmail('fields');
    await invite(defaultOrgId, email, 'viewer');
    const token = await latestToken(email);

    const noName = await inject('POST', '/api/v1/invitations/accept', undefined, { token, password: PASSWORD });
    expect(noName.statusCode).toBe(422);
    expect(noName.json()).toMatchObject({ errors: [{ in: 'body', pointer: '/displayName' }] });
    const noPassword = await inject('POST', '/api/v1/invitations/accept', undefined, { token, displayName: 'Fields' });
    expect(noPassword.statusCode).toBe(422);
    expect(noPassword.json()).toMatchObject({ errors: [{ in: 'body', pointer: '/password' }] });
    const short = await inject('POST', '/api/v1/invitations/accept', undefined, { token, displayName: 'Fields', password: 'short pw' });
    expect(short.statusCode).toBe(422);
    expect(short.json()).toMatchObject({ code: 'password_too_short', errors: [{ pointer: '/password' }] });

    // None of these spent the token.
    expect((await inject('POST', '/api/v1/invitations/accept', undefined, { token, displayName: 'Fields', password: PASSWORD })).statusCode).toBe(201);
  });
});

describe('managing invitations', () => {
  it('lists newest first with derived statuses, paginated', async () => {
    const emails = [freshEmail('list'), freshEmail('list'), freshEmail('list')];
    const ids: string[] = [];
    for (const email of emails) ids.push((await invite(defaultOrgId, email, 'viewer')).json<Invitation>().id);
    await t.container.db.updateTable('emailTokens').set({ expiresAt: new Date(Date.now() - 1000) }).where('id', '=', ids[0]!).execute();
    expect((await inject('DELETE', `/api/v1/orgs/${defaultOrgId}/invitations/${ids[1]}`, rootToken)).statusCode).toBe(204);

    const first = await inject('GET', `/api/v1/orgs/${defaultOrgId}/invitations?limit=2`, rootToken);
    expect(first.statusCode).toBe(200);
    const page1 = first.json<{ items: Invitation[]; nextCursor: string | null }>();
    expect(page1.items.map((item) => [item.id, item.status])).toEqual([
      [ids[2], 'pending'],
      [ids[1], 'revoked'],
    ]);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = (await inject('GET', `/api/v1/orgs/${defaultOrgId}/invitations?limit=2&cursor=${page1.nextCursor}`, rootToken)).json<{ items: Invitation[] }>();
    expect(page2.items[0]).toMatchObject({ id: ids[0], status: 'expired', email: emails[0] });
  });

  it('revoking: 204, then the token is refused and a second revoke is 404', async () => {
    const email = freshEmail('revoke');
    const { id } = (await invite(defaultOrgId, email, 'viewer')).json<Invitation>();
    const token = await latestToken(email);
    expect((await inject('DELETE', `/api/v1/orgs/${defaultOrgId}/invitations/${id}`, rootToken)).statusCode).toBe(204);
    expect((await inject('DELETE', `/api/v1/orgs/${defaultOrgId}/invitations/${id}`, rootToken)).statusCode).toBe(404);
    const accepted = await inject('POST', '/api/v1/invitations/accept', undefined, { token, displayName: 'Revoked', password: PASSWORD });
    expect(accepted.statusCode).toBe(400);
    expect(accepted.json()).toMatchObject({ code: 'invalid_token' });
  });

  it('a new invitation for the same email supersedes the open one (any case of the address)', async () => {
    const email = freshEmail('again');
    const first = (await invite(defaultOrgId, email, 'viewer')).json<Invitation>();
    const oldToken = await latestToken(email);
    await invite(defaultOrgId, email.toUpperCase(), 'reviewer');
    const newToken = await latestToken(email);
    expect(newToken).not.toBe(oldToken);
    expect((await inject('POST', '/api/v1/invitations/accept', undefined, { token: oldToken, displayName: 'Again', password: PASSWORD })).statusCode).toBe(400);
    const listed = (await inject('GET', `/api/v1/orgs/${defaultOrgId}/invitations`, rootToken)).json<{ items: Invitation[] }>();
    expect(listed.items.find((item) => item.id === first.id)?.status).toBe('revoked');
    const accepted = await inject('POST', '/api/v1/invitations/accept', undefined, { token: newToken, displayName: 'Again', password: PASSWORD });
    expect(accepted.json()).toMatchObject({ role: 'reviewer' });
  });

  it('inviting a member is 409 already_member; accepting into an organisation one already belongs to spends the token and is 409', async () => {
    const conflict = await invite(defaultOrgId, BOOTSTRAP_ADMIN.email.toUpperCase(), 'viewer');
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ code: 'already_member' });

    // Someone who became a member another way while the invitation was open.
    const email = freshEmail('twice');
    await invite(defaultOrgId, email, 'viewer');
    const token = await latestToken(email);
    const userId = await createTestUser(t, email);
    await t.container.db.transaction().execute((tx) => t.container.repos.memberships.insert(tx, newId(), { orgId: defaultOrgId, userId, role: 'auditor' }, null, new Date()));
    const again = await inject('POST', '/api/v1/invitations/accept', undefined, { token });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'already_member' });
    expect((await inject('POST', '/api/v1/invitations/accept', undefined, { token })).json()).toMatchObject({ code: 'invalid_token' });
    const memberships = await t.container.db.selectFrom('memberships').select('role').where('userId', '=', userId).execute();
    expect(memberships).toEqual([{ role: 'auditor' }]);
  });

  it('a disabled account is not reactivated: accepting answers 409 account_disabled and adds nothing', async () => {
    const email = freshEmail('disabled');
    await invite(defaultOrgId, email, 'viewer');
    const { userId } = (await inject('POST', '/api/v1/invitations/accept', undefined, { token: await latestToken(email), displayName: 'Dis', password: PASSWORD })).json<{ userId: string }>();
    await t.container.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', userId).execute();
    const org = await inject('POST', '/api/v1/orgs', rootToken, { name: 'Third Org', slug: `third-${seq}` });
    const thirdOrgId = org.json<{ id: string }>().id;
    rootToken = await login(BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
    await invite(thirdOrgId, email, 'viewer');
    const accepted = await inject('POST', '/api/v1/invitations/accept', undefined, { token: await latestToken(email) });
    expect(accepted.statusCode).toBe(409);
    expect(accepted.json()).toMatchObject({ code: 'account_disabled' });
    const user = await t.container.db.selectFrom('users').select('status').where('id', '=', userId).executeTakeFirstOrThrow();
    expect(user.status).toBe('disabled');
    const memberships = await t.container.db.selectFrom('memberships').select('orgId').where('userId', '=', userId).execute();
    expect(memberships.map((m) => m.orgId)).toEqual([defaultOrgId]);
  });
});
