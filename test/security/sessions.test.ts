import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAudit } from '../setup/audit-trail.js';
import { addMember, bearer, createOrg, createUserWithPassword, freshIp, json, login } from '../setup/identity-factory.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Browser sessions (issue 8 §6) through app.inject on the built app: the `mode: "cookie"` sign-in,
 * the cookie's attributes, fixation, the session list and revocation (own, all, by administrators),
 * the per-user limit, and every way a login ends reaching the browser sessions too. Expiry is in
 * sessions-expiry.test.ts, CSRF in csrf.test.ts. Embedded, and PostgreSQL + Redis when configured.
 */

type Response = Awaited<ReturnType<TestApp['app']['inject']>>;
interface CookieLogin {
  mode: 'cookie';
  expiresAt: string;
  idleTimeoutSeconds: number;
  csrfToken: string;
}
interface SessionView {
  id: string;
  device: string;
  ip: string | null;
  current: boolean;
  lastSeenAt: string | null;
  amr: string[];
}

const COOKIE = '__Host-vutf_session';
const ORIGIN = 'https://console.example.test';
const PASSWORD = 'a long and unusual passphrase 4 sessions';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';

let t: TestApp;
let seq = 0;
const email = (name: string) => `${name}-${++seq}@example.test`;

const cookieOf = (response: Response) => response.cookies.find((cookie) => cookie.name === COOKIE);

async function cookieLogin(address: string, password = PASSWORD, extra: Record<string, string> = {}) {
  const ip = freshIp();
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: { ...json, 'user-agent': FIREFOX, ...extra },
    payload: { email: address, password, mode: 'cookie' },
    remoteAddress: ip,
  });
  expect(response.statusCode, response.body).toBe(200);
  const cookie = cookieOf(response);
  expect(cookie).toBeDefined();
  return { response, ip, token: cookie!.value, body: response.json<CookieLogin>() };
}

const withCookie = (token: string, csrf?: string) => ({ cookie: `${COOKIE}=${token}`, origin: ORIGIN, ...(csrf ? { 'x-csrf-token': csrf } : {}) });
const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: withCookie(token) });
const listSessions = (headers: Record<string, string>) => t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers });

async function newUser(name: string) {
  const address = email(name);
  const id = await createUserWithPassword(t, address, PASSWORD);
  return { address, id };
}

beforeAll(async () => {
  t = await createTestApp({ env: { PUBLIC_URL: ORIGIN } });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('signing in with mode: "cookie"', () => {
  it('[ASVS 3.3.1] [ASVS 3.3.3] [ASVS 3.3.4] the session cookie is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/, without Domain, and no token is in the body', async () => {
    const user = await newUser('attributes');
    const { response, body, token } = await cookieLogin(user.address);
    const header = String(response.headers['set-cookie']);
    expect(header).toMatch(/^__Host-vutf_session=[A-Za-z0-9_-]{43};/);
    expect(header).toMatch(/; HttpOnly/);
    expect(header).toMatch(/; Secure/);
    expect(header).toMatch(/; SameSite=Lax/);
    expect(header).toMatch(/; Path=\//);
    expect(header).not.toMatch(/Domain=/i);
    expect(body).toEqual({ mode: 'cookie', expiresAt: expect.any(String), idleTimeoutSeconds: 900, csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(response.body).not.toContain(token);
    expect(response.headers['x-csrf-token']).toBe(body.csrfToken);
    // The absolute lifetime is 12 hours by default.
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(11.9 * 3_600_000);
    expect((await me(token)).json<{ id: string }>().id).toBe(user.id);
  });

  it('[ASVS 7.2.3] [ASVS 7.2.1] the id is 256 random bits checked server-side, stored only as a hash, with the client address sealed', async () => {
    const user = await newUser('stored');
    const a = await cookieLogin(user.address);
    const b = await cookieLogin(user.address);
    expect(Buffer.from(a.token, 'base64url')).toHaveLength(32);
    expect(a.token).not.toBe(b.token);
    expect(await t.container.store.get(`sessions:rec:${a.token}`)).toBeNull();
    const stored = await t.container.store.get(`sessions:rec:${createHash('sha256').update(a.token).digest('base64url')}`);
    expect(stored).not.toBeNull();
    expect(stored).not.toContain(a.token);
    expect(stored).not.toContain(a.ip);
    expect(stored).not.toContain(user.address);
    // A well-formed value the server never issued is refused, and its cookie cleared.
    const forged = await me('A'.repeat(43));
    expect(forged.statusCode).toBe(401);
    expect(cookieOf(forged)?.value).toBe('');
  });

  it('[ASVS 7.2.4] session fixation: a cookie the browser brings to the sign-in is never adopted and dies', async () => {
    const user = await newUser('fixation');
    const planted = 'p'.repeat(43);
    const first = await cookieLogin(user.address, PASSWORD, { cookie: `${COOKIE}=${planted}` });
    expect(first.token).not.toBe(planted);
    expect((await me(planted)).statusCode).toBe(401);
    // Signing in again from the same browser ends the session it held (re-authentication gets a new id).
    const second = await cookieLogin(user.address, PASSWORD, { cookie: `${COOKIE}=${first.token}` });
    expect(second.token).not.toBe(first.token);
    expect((await me(first.token)).statusCode).toBe(401);
    expect((await me(second.token)).statusCode).toBe(200);
  });

  it('[ASVS 7.2.4] a refused sign-in in cookie mode creates no session and sets no cookie', async () => {
    const user = await newUser('wrong');
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: user.address, password: 'wrong', mode: 'cookie' }, remoteAddress: freshIp() });
    expect(response.statusCode).toBe(401);
    expect(response.headers['set-cookie']).toBeUndefined();
  });
});

describe('listing and ending sessions', () => {
  it('[ASVS 7.5.2] a user sees their sessions (device, address, last activity, the current one) and ends one', async () => {
    const user = await newUser('list');
    const a = await cookieLogin(user.address);
    const b = await cookieLogin(user.address);
    const listed = await listSessions(withCookie(b.token));
    expect(listed.statusCode, listed.body).toBe(200);
    const items = listed.json<{ items: SessionView[] }>().items;
    expect(items).toHaveLength(2);
    expect(items.map((item) => item.current)).toEqual([true, false]);
    expect(items[0]).toMatchObject({ device: 'Firefox on Linux', ip: b.ip, amr: ['pwd'] });
    expect(items[1]!.ip).toBe(a.ip);
    const older = items[1]!.id;
    const ended = await t.app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${older}`, headers: withCookie(b.token, b.body.csrfToken) });
    expect(ended.statusCode, ended.body).toBe(204);
    expect((await me(a.token)).statusCode).toBe(401);
    expect((await me(b.token)).statusCode).toBe(200);
    expect((await readAudit(t, { action: 'session.revoked', resourceId: older })).length).toBe(1);
  });

  it('[ASVS 7.5.2] another user’s session id answers 404, and that session lives on', async () => {
    const owner = await newUser('owner-of-session');
    const other = await newUser('other');
    const victim = await cookieLogin(owner.address);
    const id = (await listSessions(withCookie(victim.token))).json<{ items: SessionView[] }>().items[0]!.id;
    const attacker = await cookieLogin(other.address);
    const response = await t.app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${id}`, headers: withCookie(attacker.token, attacker.body.csrfToken) });
    expect(response.statusCode).toBe(404);
    expect((await me(victim.token)).statusCode).toBe(200);
  });

  it('[ASVS 7.4.3] ending all other sessions keeps this one; scope=all ends it too and clears its cookie', async () => {
    const user = await newUser('all');
    const a = await cookieLogin(user.address);
    const b = await cookieLogin(user.address);
    const c = await cookieLogin(user.address);
    const others = await t.app.inject({ method: 'DELETE', url: '/api/v1/auth/sessions', headers: withCookie(c.token, c.body.csrfToken) });
    expect(others.json()).toEqual({ revoked: 2 });
    expect([(await me(a.token)).statusCode, (await me(b.token)).statusCode, (await me(c.token)).statusCode]).toEqual([401, 401, 200]);
    const all = await t.app.inject({ method: 'DELETE', url: '/api/v1/auth/sessions?scope=all', headers: withCookie(c.token, c.body.csrfToken) });
    expect(all.json()).toEqual({ revoked: 1 });
    expect(cookieOf(all)?.value).toBe('');
    expect((await me(c.token)).statusCode).toBe(401);
  });

  it('[ASVS 7.4.1] logout ends the cookie session at the server and clears the cookie', async () => {
    const user = await newUser('logout');
    const session = await cookieLogin(user.address);
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: withCookie(session.token, session.body.csrfToken) });
    expect(response.statusCode, response.body).toBe(204);
    expect(cookieOf(response)?.value).toBe('');
    expect((await me(session.token)).statusCode).toBe(401);
  });

  it('[ASVS 7.1.2] beyond the per-user limit (10) a sign-in ends the oldest session, audited', async () => {
    const user = await newUser('limit');
    const sessions = [];
    for (let index = 0; index < 11; index += 1) sessions.push(await cookieLogin(user.address));
    expect((await me(sessions[0]!.token)).statusCode).toBe(401);
    expect((await me(sessions[1]!.token)).statusCode).toBe(200);
    expect((await me(sessions[10]!.token)).statusCode).toBe(200);
    expect((await listSessions(withCookie(sessions[10]!.token))).json<{ items: unknown[] }>().items).toHaveLength(10);
    const evicted = await readAudit(t, { action: 'session.evicted', actorId: user.id });
    expect(evicted).toHaveLength(1);
    expect(evicted[0]!.detail).toMatchObject({ reason: 'per-user-limit', limit: 10 });
  });
});

describe('sessions ending with the account or its privileges', () => {
  it('[ASVS 7.4.2] disabling an account ends its sessions, and enabling it again does not bring them back', async () => {
    const user = await newUser('disabled');
    const session = await cookieLogin(user.address);
    const root = await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/users/${user.id}/disable`, headers: bearer(root.accessToken) })).statusCode).toBe(200);
    expect((await me(session.token)).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/users/${user.id}/enable`, headers: bearer(root.accessToken) })).statusCode).toBe(200);
    expect((await me(session.token)).statusCode).toBe(401);
  });

  it('[ASVS 7.2.4] a role change ends the member’s browser sessions (they sign in again with a new id)', async () => {
    const admin = await newUser('org-owner');
    const member = await newUser('promoted');
    const orgId = await createOrg(t, `sessions-roles-${seq}`, [admin.id]);
    await addMember(t, orgId, member.id, 'viewer');
    const session = await cookieLogin(member.address);
    const adminToken = (await login(t, admin.address, PASSWORD)).accessToken;
    const changed = await t.app.inject({ method: 'PATCH', url: `/api/v1/orgs/${orgId}/members/${member.id}`, headers: { ...json, ...bearer(adminToken) }, payload: { role: 'admin' } });
    expect(changed.statusCode, changed.body).toBe(200);
    expect((await me(session.token)).statusCode).toBe(401);
  });

  it('[ASVS 7.4.5] administrators end a user’s sessions: super-admins anyone, organisation admins their members only', async () => {
    const orgAdmin = await newUser('org-admin');
    const member = await newUser('member');
    const outsider = await newUser('outsider');
    const orgId = await createOrg(t, `sessions-admin-${seq}`, []);
    await addMember(t, orgId, orgAdmin.id, 'admin');
    await addMember(t, orgId, member.id, 'viewer');
    const memberSession = await cookieLogin(member.address);
    const memberTokens = await login(t, member.address, PASSWORD);
    const outsiderSession = await cookieLogin(outsider.address);
    const adminToken = (await login(t, orgAdmin.address, PASSWORD)).accessToken;
    const revoke = (userId: string, token: string) => t.app.inject({ method: 'DELETE', url: `/api/v1/users/${userId}/sessions`, headers: bearer(token) });

    expect((await revoke(outsider.id, adminToken)).statusCode).toBe(404);
    expect((await me(outsiderSession.token)).statusCode).toBe(200);
    expect((await revoke(orgAdmin.id, memberTokens.accessToken)).statusCode).toBe(403);
    expect((await revoke(member.id, adminToken)).statusCode).toBe(204);
    expect((await me(memberSession.token)).statusCode).toBe(401);
    // Token logins end too: the access token at once, the refresh token with its family.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(memberTokens.accessToken) })).statusCode).toBe(401);
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: json, payload: { refreshToken: memberTokens.refreshToken }, remoteAddress: freshIp() });
    expect(refreshed.statusCode).toBe(401);
    expect(await readAudit(t, { action: 'user.sessions.revoked', resourceId: member.id })).toHaveLength(1);

    const root = await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
    expect((await revoke(outsider.id, root.accessToken)).statusCode).toBe(204);
    expect((await me(outsiderSession.token)).statusCode).toBe(401);
  });
});
