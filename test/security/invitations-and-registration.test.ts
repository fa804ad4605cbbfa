import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BOOTSTRAP_ADMIN, createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';
import { readAllOutbox, readOutbox, tokenFromMail } from '../setup/mail-outbox.js';

/**
 * Invitations and self-registration as an attacker sees them: mailed tokens (random, hashed at rest,
 * single use, expiring, revocable, never echoed), role escalation, tenancy, mass assignment,
 * account enumeration through registration, the password policy and the authentication throttle.
 */

type Response = Awaited<ReturnType<TestApp['app']['inject']>>;
interface Invitation {
  id: string;
  status: string;
}

const PASSWORD = 'violet anchor mosaic drift 47';
const policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-invite-policy-'));
/** Registration on, a generous authentication tier (the throttle test uses `off`, on defaults). */
let t: TestApp;
/** Built-in policy: registration off, default authentication tier. */
let off: TestApp;
let rootToken: string;
let defaultOrgId: string;
let seq = 0;
const freshEmail = (label: string) => `${label}.${++seq}@example.test`;
/** Every response seen by this file, to prove no token ever appears in one. */
const responses: Response[] = [];

async function call(app: TestApp, method: 'GET' | 'POST' | 'DELETE', url: string, options: { token?: string; payload?: unknown; orgId?: string; ip?: string } = {}) {
  const response = await app.app.inject({
    method,
    url,
    remoteAddress: options.ip ?? '127.0.0.1',
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.orgId ? { 'x-organization-id': options.orgId } : {}),
      ...(options.payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.payload === undefined ? {} : { payload: options.payload as object }),
  });
  responses.push(response);
  return response;
}

async function login(email: string, password: string, app = t): Promise<string> {
  const response = await call(app, 'POST', '/api/v1/auth/login', { payload: { email, password } });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ accessToken: string }>().accessToken;
}

const invite = (orgId: string, email: string, role: string, token = rootToken) =>
  call(t, 'POST', `/api/v1/orgs/${orgId}/invitations`, { token, orgId, payload: { email, role } });
const accept = (payload: Record<string, unknown>, app = t, ip?: string) => call(app, 'POST', '/api/v1/invitations/accept', { payload, ...(ip ? { ip } : {}) });

async function latestToken(email: string): Promise<string> {
  const [mail] = await readOutbox(t, email);
  return tokenFromMail(mail!.body);
}

/** A signed-in member of the default organisation with `role`, through a real invitation. */
async function member(role: string): Promise<{ token: string; userId: string; email: string }> {
  const email = freshEmail(role);
  expect((await invite(defaultOrgId, email, role)).statusCode).toBe(201);
  const accepted = await accept({ token: await latestToken(email), displayName: `A ${role}`, password: PASSWORD });
  expect(accepted.statusCode, accepted.body).toBe(201);
  return { token: await login(email, PASSWORD), userId: accepted.json<{ userId: string }>().userId, email };
}

const userCount = async (email: string) => ((await t.container.repos.users.findByEmail(t.container.db, email)) ? 1 : 0);

beforeAll(async () => {
  const file = path.join(policyDir, 'policy.yaml');
  writeFileSync(file, 'accounts:\n  selfRegistration: true\nrateLimits:\n  authentication:\n    limit: 1000\n    windowSeconds: 60\n');
  [t, off] = await Promise.all([createTestApp({ env: { POLICY_FILE: file } }), createTestApp()]);
  rootToken = await login(BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
  const profile = (await call(t, 'GET', '/api/v1/users/me', { token: rootToken })).json<{ organisations: Array<{ id: string }> }>();
  defaultOrgId = profile.organisations[0]!.id;
}, 120_000);

afterAll(async () => {
  await t?.close();
  await off?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

describe('invitation tokens', () => {
  it('[ASVS 6.4.1] are 256-bit random, stored only as a SHA-256 digest, work once and not after expiry', async () => {
    const email = freshEmail('once');
    const { id } = (await invite(defaultOrgId, email, 'viewer')).json<Invitation>();
    const token = await latestToken(email);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = await t.container.db.selectFrom('emailTokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.tokenHash.equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(JSON.stringify(row)).not.toContain(token);

    expect((await accept({ token, displayName: 'Once', password: PASSWORD })).statusCode).toBe(201);
    const reused = await accept({ token, displayName: 'Once', password: PASSWORD });
    expect(reused.statusCode).toBe(400);
    expect(reused.json()).toMatchObject({ code: 'invalid_token' });

    const lateEmail = freshEmail('late');
    const late = (await invite(defaultOrgId, lateEmail, 'viewer')).json<Invitation>();
    const lateToken = await latestToken(lateEmail);
    await t.container.db.updateTable('emailTokens').set({ expiresAt: new Date(Date.now() - 1) }).where('id', '=', late.id).execute();
    const expired = await accept({ token: lateToken, displayName: 'Late', password: PASSWORD });
    expect(expired.statusCode).toBe(400);
    expect(expired.json()).toMatchObject({ code: 'invalid_token' });
    expect(await userCount(lateEmail)).toBe(0);
  });

  it('[ASVS 6.4.1] unknown, malformed, used, revoked and expired tokens get one identical answer', async () => {
    const email = freshEmail('revoked');
    const { id } = (await invite(defaultOrgId, email, 'viewer')).json<Invitation>();
    const token = await latestToken(email);
    expect((await call(t, 'DELETE', `/api/v1/orgs/${defaultOrgId}/invitations/${id}`, { token: rootToken })).statusCode).toBe(204);
    const answers = await Promise.all(
      [token, 'A'.repeat(43), 'not a token', `${token}x`].map(async (candidate) => {
        const response = await accept({ token: candidate, displayName: 'Revoked', password: PASSWORD });
        const { status, code, detail } = response.json<{ status: number; code: string; detail: string }>();
        return { statusCode: response.statusCode, status, code, detail };
      }),
    );
    expect(new Set(answers.map((answer) => JSON.stringify(answer))).size).toBe(1);
    expect(answers[0]).toMatchObject({ statusCode: 400, code: 'invalid_token' });
    expect(await userCount(email)).toBe(0);
  });

  it('[ASVS 2.3.4] of concurrent accepts of one invitation exactly one succeeds: one account, one membership', async () => {
    const email = freshEmail('race');
    await invite(defaultOrgId, email, 'viewer');
    const token = await latestToken(email);
    const results = await Promise.all(Array.from({ length: 5 }, () => accept({ token, displayName: 'Race', password: PASSWORD })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 400, 400, 400, 400]);
    const user = await t.container.repos.users.findByEmail(t.container.db, email);
    const memberships = await t.container.db.selectFrom('memberships').select('id').where('userId', '=', user!.id).execute();
    expect(memberships).toHaveLength(1);
  });

  it('[ASVS 15.3.1] the token never appears in an HTTP response, a listing or a mail subject', async () => {
    const email = freshEmail('secret');
    const created = await invite(defaultOrgId, email, 'auditor');
    const [mail] = await readOutbox(t, email);
    const token = tokenFromMail(mail!.body);
    expect(mail!.subject).not.toContain(token);
    await call(t, 'GET', `/api/v1/orgs/${defaultOrgId}/invitations?limit=100`, { token: rootToken });
    await accept({ token, displayName: 'Secret', password: PASSWORD });
    expect(Object.keys(created.json<object>()).sort()).toEqual(['createdAt', 'email', 'expiresAt', 'id', 'role', 'status']);
    for (const outbox of await readAllOutbox(t)) expect(outbox.subject).not.toMatch(/[A-Za-z0-9_-]{43}/);
    const tokens = (await readAllOutbox(t)).filter((m) => m.template === 'invitation').map((m) => tokenFromMail(m.body));
    expect(tokens.length).toBeGreaterThan(3);
    for (const response of responses) {
      const seen = response.body + JSON.stringify(response.headers);
      for (const candidate of tokens) expect(seen).not.toContain(candidate);
    }
  });
});

describe('authorisation', () => {
  it('[ASVS 8.2.1] an admin cannot invite an owner; roles without members:invite cannot invite at all', async () => {
    const admin = await member('admin');
    const ownerEmail = freshEmail('would-be-owner');
    const escalation = await invite(defaultOrgId, ownerEmail, 'owner', admin.token);
    expect(escalation.statusCode).toBe(403);
    expect(escalation.json()).toMatchObject({ code: 'role_not_grantable' });
    expect(await readOutbox(t, ownerEmail)).toEqual([]);
    expect((await invite(defaultOrgId, freshEmail('by-admin'), 'admin', admin.token)).statusCode).toBe(201);

    for (const role of ['red-teamer', 'viewer']) {
      const { token } = await member(role);
      const target = freshEmail(`by-${role}`);
      expect((await invite(defaultOrgId, target, 'viewer', token)).statusCode).toBe(403);
      expect((await call(t, 'GET', `/api/v1/orgs/${defaultOrgId}/invitations`, { token })).statusCode).toBe(403);
      expect(await readOutbox(t, target)).toEqual([]);
    }
  });

  it('[ASVS 8.2.2] another organisation’s invitations answer 404 on create, list and revoke', async () => {
    const org = await call(t, 'POST', '/api/v1/orgs', { token: rootToken, payload: { name: 'Other Org', slug: `other-${seq}` } });
    const otherOrgId = org.json<{ id: string }>().id;
    rootToken = await login(BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
    const ownerEmail = freshEmail('other-owner');
    expect((await invite(otherOrgId, ownerEmail, 'owner')).statusCode).toBe(201);
    expect((await accept({ token: await latestToken(ownerEmail), displayName: 'Other Owner', password: PASSWORD })).statusCode).toBe(201);
    const outsider = await login(ownerEmail, PASSWORD);

    const victimEmail = freshEmail('victim');
    const victim = (await invite(defaultOrgId, victimEmail, 'viewer')).json<Invitation>();
    const target = freshEmail('smuggled');
    const attempts = [
      await call(t, 'POST', `/api/v1/orgs/${defaultOrgId}/invitations`, { token: outsider, payload: { email: target, role: 'viewer' } }),
      await call(t, 'GET', `/api/v1/orgs/${defaultOrgId}/invitations`, { token: outsider }),
      await call(t, 'DELETE', `/api/v1/orgs/${defaultOrgId}/invitations/${victim.id}`, { token: outsider }),
      // Its own organisation in the path, the other's invitation id.
      await call(t, 'DELETE', `/api/v1/orgs/${otherOrgId}/invitations/${victim.id}`, { token: outsider }),
      // Selecting an organisation one does not belong to.
      await call(t, 'GET', `/api/v1/orgs/${defaultOrgId}/invitations`, { token: outsider, orgId: defaultOrgId }),
    ];
    expect(attempts.map((response) => response.statusCode)).toEqual([404, 404, 404, 404, 404]);
    expect(await readOutbox(t, target)).toEqual([]);
    const listed = (await call(t, 'GET', `/api/v1/orgs/${defaultOrgId}/invitations?limit=100`, { token: rootToken })).json<{ items: Invitation[] }>();
    expect(listed.items.find((item) => item.id === victim.id)?.status).toBe('pending');
  });

  it('[ASVS 8.3.2] an accepted membership applies to the next request of an already signed-in user', async () => {
    const { token, email } = await member('viewer');
    const org = await call(t, 'POST', '/api/v1/orgs', { token: rootToken, payload: { name: 'Later Org', slug: `later-${seq}` } });
    const laterOrgId = org.json<{ id: string }>().id;
    rootToken = await login(BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
    expect((await call(t, 'GET', `/api/v1/orgs/${laterOrgId}`, { token, orgId: laterOrgId })).statusCode).toBe(404);
    await invite(laterOrgId, email, 'auditor');
    expect((await accept({ token: await latestToken(email) })).statusCode).toBe(201);
    expect((await call(t, 'GET', `/api/v1/orgs/${laterOrgId}`, { token, orgId: laterOrgId })).statusCode).toBe(200);
  });
});

describe('mass assignment', () => {
  it('[ASVS 15.3.3] extra fields in invitation, accept and register bodies are refused (422) and create nothing', async () => {
    const smuggled = freshEmail('smuggle');
    const badInvite = await call(t, 'POST', `/api/v1/orgs/${defaultOrgId}/invitations`, { token: rootToken, payload: { email: smuggled, role: 'viewer', orgId: defaultOrgId } });
    expect(badInvite.statusCode).toBe(422);
    expect(await readOutbox(t, smuggled)).toEqual([]);

    const email = freshEmail('assign');
    await invite(defaultOrgId, email, 'viewer');
    const token = await latestToken(email);
    for (const extra of [{ platformRole: 'super-admin' }, { orgId: defaultOrgId }, { role: 'owner' }, { email: 'other@example.test' }]) {
      const response = await accept({ token, displayName: 'Assign', password: PASSWORD, ...extra });
      expect(response.statusCode).toBe(422);
      expect(response.json()).toMatchObject({ code: 'validation_failed', errors: [expect.objectContaining({ in: 'body' })] });
    }
    expect(await userCount(email)).toBe(0);
    // The token was not spent, and the account got only what the invitation says.
    const accepted = await accept({ token, displayName: 'Assign', password: PASSWORD });
    expect(accepted.json()).toMatchObject({ orgId: defaultOrgId, role: 'viewer' });
    const user = await t.container.repos.users.findByEmail(t.container.db, email);
    expect(user).toMatchObject({ platformRole: null, status: 'active' });

    const registerEmail = freshEmail('register-assign');
    for (const extra of [{ platformRole: 'super-admin' }, { orgId: defaultOrgId }, { status: 'active' }]) {
      const response = await call(t, 'POST', '/api/v1/auth/register', { payload: { email: registerEmail, displayName: 'Reg', password: PASSWORD, ...extra } });
      expect(response.statusCode).toBe(422);
    }
    expect(await readOutbox(t, registerEmail)).toEqual([]);
    const confirm = await call(t, 'POST', '/api/v1/auth/register/confirm', { payload: { token: 'A'.repeat(43), platformRole: 'super-admin' } });
    expect(confirm.statusCode).toBe(422);
  });
});

describe('self-registration', () => {
  const register = (email: string, password = PASSWORD, app = t, ip?: string) =>
    call(app, 'POST', '/api/v1/auth/register', { payload: { email, displayName: 'Self Registered', password }, ...(ip ? { ip } : {}) });

  it('[ASVS 2.3.2] is off by default: 403 registration_disabled, no mail, no token, and confirmation refused too', async () => {
    const email = freshEmail('closed');
    const response = await register(email, PASSWORD, off);
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'registration_disabled' });
    expect(await readAllOutbox(off)).toEqual([]);
    expect(await off.container.db.selectFrom('emailTokens').select('id').execute()).toEqual([]);
    const confirm = await call(off, 'POST', '/api/v1/auth/register/confirm', { payload: { token: 'A'.repeat(43) } });
    expect(confirm.json()).toMatchObject({ code: 'registration_disabled' });
  });

  it('[ASVS 6.3.8] answers the same 202 whether or not the email has an account, with the same hash work; only the mailbox learns which', async () => {
    const hash = vi.spyOn(t.container.passwordHasher, 'hash');
    try {
      const unknown = freshEmail('unknown');
      const fresh = await register(unknown);
      const known = await register(BOOTSTRAP_ADMIN.email.toUpperCase());
      expect([fresh.statusCode, known.statusCode]).toEqual([202, 202]);
      expect(fresh.body).toBe(known.body);
      expect(fresh.json()).toEqual({ status: 'confirmation-sent' });
      expect(hash).toHaveBeenCalledTimes(2);

      const [exists] = await readOutbox(t, BOOTSTRAP_ADMIN.email);
      expect(exists).toMatchObject({ template: 'registration-exists' });
      expect(() => tokenFromMail(exists!.body)).toThrow();
      const [confirmation] = await readOutbox(t, unknown);
      expect(confirmation).toMatchObject({ template: 'registration' });

      // A refused password reads the same for a taken and a free address.
      const weak = await Promise.all([register(freshEmail('weak'), 'films+pic+galeries'), register(BOOTSTRAP_ADMIN.email, 'films+pic+galeries')]);
      expect(weak.map((r) => [r.statusCode, r.json<{ code: string }>().code])).toEqual([
        [422, 'password_blocklisted'],
        [422, 'password_blocklisted'],
      ]);
    } finally {
      hash.mockRestore();
    }
  });

  it('[ASVS 2.4.1] registration mail to one address stops at the per-address budget (shared with password resets), with the same 202', async () => {
    const email = freshEmail('flooded');
    const budget = t.container.policy.current().accounts.mailPerRecipientPerHour;
    const reset = await call(t, 'POST', '/api/v1/auth/password-reset', { payload: { email } });
    expect(reset.statusCode).toBe(202);
    const answers = [];
    for (let i = 0; i < budget + 1; i++) answers.push(await register(email));
    expect(answers.map((response) => response.statusCode)).toEqual(Array.from({ length: budget + 1 }, () => 202));
    expect(new Set(answers.map((response) => response.body)).size).toBe(1);
    // One of the budget went to the reset notice; the rest to registrations; nothing beyond it.
    expect(await readOutbox(t, email)).toHaveLength(budget);
  });

  it('[ASVS 2.3.1] the account exists only after confirmation: then it logs in, has no organisation, and the token is spent', async () => {
    const email = freshEmail('confirm');
    expect((await register(email)).statusCode).toBe(202);
    expect((await call(t, 'POST', '/api/v1/auth/login', { payload: { email, password: PASSWORD } })).statusCode).toBe(401);
    const [mail] = await readOutbox(t, email);
    const token = tokenFromMail(mail!.body);
    const row = await t.container.db.selectFrom('emailTokens').select(['payload', 'expiresAt', 'createdAt']).where('purpose', '=', 'registration').orderBy('id', 'desc').executeTakeFirstOrThrow();
    // The pending password hash sits in an encrypted column, never as readable text.
    expect(row.payload!.toString('latin1')).not.toContain('$argon2');
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBe(24 * 3600 * 1000);

    const confirmed = await call(t, 'POST', '/api/v1/auth/register/confirm', { payload: { token } });
    expect(confirmed.statusCode, confirmed.body).toBe(201);
    const { userId } = confirmed.json<{ userId: string }>();
    const access = await login(email, PASSWORD);
    const profile = (await call(t, 'GET', '/api/v1/users/me', { token: access })).json<{ id: string; platformRole: string | null; organisations: unknown[] }>();
    expect(profile).toMatchObject({ id: userId, platformRole: null, organisations: [] });
    // Only self permissions: no organisation's data.
    expect((await call(t, 'GET', `/api/v1/orgs/${defaultOrgId}/members`, { token: access })).statusCode).toBe(403);
    expect((await call(t, 'POST', '/api/v1/auth/register/confirm', { payload: { token } })).json()).toMatchObject({ code: 'invalid_token' });
  });

  it('[ASVS 2.3.3] an email taken between request and confirmation answers 409 email_taken and creates no second account', async () => {
    const email = freshEmail('taken');
    await register(email);
    const token = await latestToken(email);
    const existing = await createTestUser(t, email);
    const confirmed = await call(t, 'POST', '/api/v1/auth/register/confirm', { payload: { token } });
    expect(confirmed.statusCode).toBe(409);
    expect(confirmed.json()).toMatchObject({ code: 'email_taken' });
    expect((await t.container.repos.users.findByEmail(t.container.db, email))?.id).toBe(existing);
  });

  it('[ASVS 6.2.4] accepting an invitation checks the new password against the blocklist', async () => {
    const email = freshEmail('blocklist');
    await invite(defaultOrgId, email, 'viewer');
    const response = await accept({ token: await latestToken(email), displayName: 'Block', password: 'films+pic+galeries' });
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ code: 'password_blocklisted', errors: [{ pointer: '/password' }] });
  });

  it('[ASVS 6.3.1] accept, register and login share the per-address authentication tier', async () => {
    const ip = '203.0.113.9';
    const limit = off.container.policy.current().rateLimits.authentication.limit;
    const statuses: number[] = [];
    for (let i = 0; i < limit + 2; i++) statuses.push((await accept({ token: 'A'.repeat(43) }, off, ip)).statusCode);
    expect(statuses.slice(0, limit).every((status) => status === 400)).toBe(true);
    expect(statuses.slice(limit)).toEqual([429, 429]);
    const blocked = await register(freshEmail('throttled'), PASSWORD, off, ip);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toBeDefined();
    expect((await call(off, 'POST', '/api/v1/auth/register/confirm', { payload: { token: 'A'.repeat(43) }, ip })).statusCode).toBe(429);
    expect((await call(off, 'POST', '/api/v1/auth/login', { payload: { email: 'x@example.test', password: 'whatever' }, ip })).statusCode).toBe(429);
  });
});
