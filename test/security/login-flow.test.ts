import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';
import { BOOTSTRAP_ADMIN, createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';

/**
 * The password login flow end to end through app.inject on the built app: login, lockout,
 * per-address throttling, refresh-token rotation with reuse detection, logout, password change,
 * forced password change, disabled accounts and the X-Organization-Id tenant boundary.
 * Runs on embedded PGlite, and on PostgreSQL + Redis when DATABASE_URL/REDIS_URL are set.
 */

type Response = Awaited<ReturnType<TestApp['app']['inject']>>;
interface Tokens {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}
interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  instance: string;
  requestId: string;
}
interface Me {
  id: string;
  email: string;
  displayName: string;
  platformRole: string | null;
  mustChangePassword: boolean;
  organisations: Array<{ id: string; name: string; slug: string; role: string }>;
}

const { email: ROOT_EMAIL, password: ROOT_PASSWORD } = BOOTSTRAP_ADMIN;
const MAX_FAILURES = 3;
const LOCK_MINUTES = 30;
const THROTTLE_LIMIT = 5;
const json = { 'content-type': 'application/json' };

const policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-login-policy-'));
let t: TestApp;
/** A second app whose only purpose is a tight `rateLimits.authentication` tier. */
let throttled: TestApp;
/** A third app on a manual clock, to step through the lock period. */
let clocked: TestApp;
const clock = createManualClock(new Date());
let defaultOrgId: string;
let seq = 0;
/** A fresh client address per call site, so no test shares a throttle bucket with another. */
const freshIp = () => `198.51.100.${(++seq % 250) + 1}`;
const freshEmail = (label: string) => `${label}.${++seq}@example.test`;

const writePolicy = (name: string, yaml: string) => {
  const file = path.join(policyDir, name);
  writeFileSync(file, yaml);
  return file;
};

beforeAll(async () => {
  const main = writePolicy(
    'main.yaml',
    `lockout:\n  maxFailures: ${MAX_FAILURES}\nrateLimits:\n  authentication:\n    limit: 1000\n    windowSeconds: 60\n`,
  );
  const tight = writePolicy(
    'throttled.yaml',
    `lockout:\n  maxFailures: 100\nrateLimits:\n  authentication:\n    limit: ${THROTTLE_LIMIT}\n    windowSeconds: 60\n`,
  );
  t = await createTestApp({ env: { POLICY_FILE: main } });
  throttled = await createTestApp({ env: { POLICY_FILE: tight } });
  const timed = writePolicy(
    'clocked.yaml',
    `lockout:\n  maxFailures: ${MAX_FAILURES}\n  lockMinutes: ${LOCK_MINUTES}\nrateLimits:\n  authentication:\n    limit: 1000\n    windowSeconds: 60\n`,
  );
  clocked = await createTestApp({ env: { POLICY_FILE: timed }, overrides: { clock } });
  const org = await sql<{ id: string }>`select id from organisations where slug = 'default'`.execute(t.container.db);
  defaultOrgId = org.rows[0]!.id;
}, 120_000);

afterAll(async () => {
  await t?.close();
  await throttled?.close();
  await clocked?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// helpers

const login = (email: string, password: string, ip = '127.0.0.1', app: TestApp = t) =>
  app.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: ip, headers: json, payload: { email, password } });

const refresh = (refreshToken: string, ip = '127.0.0.1') =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', remoteAddress: ip, headers: json, payload: { refreshToken } });

const bearer = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` });

const me = (accessToken: string) => t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(accessToken) });

const tokensOf = (response: Response): Tokens => {
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

const loginOk = async (email: string, password: string) => tokensOf(await login(email, password));

const problemOf = (response: Response) => response.json<Problem>();

const expectProblem = (response: Response, status: number, code?: string) => {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  if (code) expect(problemOf(response).code).toBe(code);
};

const changePassword = (accessToken: string, currentPassword: string, newPassword: string) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/users/me/password',
    headers: { ...json, ...bearer(accessToken) },
    payload: { currentPassword, newPassword },
  });

/** A user who can log in: the factory makes a password-less user; we set an argon2id hash. */
async function createPasswordUser(
  app: TestApp,
  email: string,
  password: string,
  options: { role?: 'owner' | 'admin' | 'red-teamer' | 'reviewer' | 'auditor' | 'viewer'; mustChangePassword?: boolean } = {},
): Promise<string> {
  const id = await createTestUser(app, email);
  const passwordHash = await app.container.passwordHasher.hash(password);
  await app.container.db
    .updateTable('users')
    .set({ passwordHash, ...(options.mustChangePassword ? { mustChangePassword: true } : {}) })
    .where('id', '=', id)
    .execute();
  if (options.role) {
    const role = options.role;
    const orgId = (await sql<{ id: string }>`select id from organisations where slug = 'default'`.execute(app.container.db)).rows[0]!.id;
    await app.container.db.transaction().execute((tx) => app.container.repos.memberships.insert(tx, newId(), { orgId, userId: id, role }, null, new Date()));
  }
  return id;
}

/** Header names that legitimately differ per response (request id, throttle counters, framing). */
const VOLATILE = new Set(['x-request-id', 'date', 'content-length', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy', 'ratelimit', 'retry-after']);
const headerNames = (response: Response) =>
  Object.keys(response.headers)
    .map((name) => name.toLowerCase())
    .sort();
const stableHeaders = (response: Response) => {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(response.headers)) if (!VOLATILE.has(name.toLowerCase())) out[name.toLowerCase()] = value;
  return out;
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

// ---------------------------------------------------------------------------------------------

describe('login', () => {
  it('V6.3.1 V7.2.4 the bootstrap admin logs in and gets a Bearer access token (600 s) and a refresh token', async () => {
    const response = await login(ROOT_EMAIL, ROOT_PASSWORD);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json<Tokens>();
    expect(body).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), tokenType: 'Bearer', expiresIn: 600 });
    expect(body.accessToken.length).toBeGreaterThan(20);
    expect(body.refreshToken.length).toBeGreaterThan(20);
    expect(body.refreshToken).not.toBe(body.accessToken);
    // A second login is a new session: new tokens, never the same ones again.
    const again = await loginOk(ROOT_EMAIL, ROOT_PASSWORD);
    expect(again.accessToken).not.toBe(body.accessToken);
    expect(again.refreshToken).not.toBe(body.refreshToken);
  });

  it('rejects unknown body fields with 422', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: json,
      payload: { email: ROOT_EMAIL, password: ROOT_PASSWORD, admin: true },
    });
    expectProblem(response, 422);
  });

  it('V7.2.1 GET /users/me answers with the caller from a valid Bearer token', async () => {
    const { accessToken } = await loginOk(ROOT_EMAIL, ROOT_PASSWORD);
    const response = await me(accessToken);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<Me>();
    expect(body).toEqual({
      id: expect.any(String),
      email: ROOT_EMAIL,
      displayName: expect.any(String),
      platformRole: 'super-admin',
      mustChangePassword: false,
      organisations: expect.any(Array),
    });
    expect(body.organisations).toContainEqual({ id: defaultOrgId, name: expect.any(String), slug: 'default', role: 'owner' });
  });

  it('V7.2.1 GET /users/me without a token, or with a forged / malformed / refresh token, is 401', async () => {
    const { accessToken, refreshToken } = await loginOk(ROOT_EMAIL, ROOT_PASSWORD);
    const [header, payload] = accessToken.split('.');
    const tampered = `${header}.${payload}.${'A'.repeat(43)}`;
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/users/me' }), 401);
    for (const token of ['not-a-token', tampered, refreshToken]) expectProblem(await me(token), 401);
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Basic ${accessToken}` } }), 401);
  });
});

describe('failed logins reveal nothing', () => {
  it('V6.3.8 unknown email, wrong password, locked and disabled accounts: same status, code, detail, body shape and headers', async () => {
    const password = 'amber lantern quietly 7719 orbit';
    const known = freshEmail('enum.known');
    await createPasswordUser(t, known, password);
    const lockedEmail = freshEmail('enum.locked');
    await createPasswordUser(t, lockedEmail, password);
    const disabledEmail = freshEmail('enum.disabled');
    const disabledId = await createPasswordUser(t, disabledEmail, password);
    await t.container.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', disabledId).execute();

    for (let i = 0; i < MAX_FAILURES; i++) expectProblem(await login(lockedEmail, 'wrong password entirely 1'), 401, 'invalid_credentials');

    const cases = {
      unknownEmail: await login(freshEmail('enum.nobody'), password),
      wrongPassword: await login(known, 'not the right password 123'),
      // The right password on a locked account.
      locked: await login(lockedEmail, password),
      // The right password on a disabled account.
      disabled: await login(disabledEmail, password),
    };
    const reference = cases.unknownEmail;
    expectProblem(reference, 401, 'invalid_credentials');
    const referenceBody = problemOf(reference);
    expect(referenceBody.detail).toEqual(expect.any(String));
    for (const [name, response] of Object.entries(cases)) {
      expectProblem(response, 401, 'invalid_credentials');
      const body = problemOf(response);
      expect({ name, detail: body.detail, type: body.type, title: body.title, keys: Object.keys(body).sort() }).toEqual({
        name,
        detail: referenceBody.detail,
        type: referenceBody.type,
        title: referenceBody.title,
        keys: Object.keys(referenceBody).sort(),
      });
      expect({ name, headers: headerNames(response) }).toEqual({ name, headers: headerNames(reference) });
      expect({ name, headers: stableHeaders(response) }).toEqual({ name, headers: stableHeaders(reference) });
    }
  });

  it('V6.3.8 an unknown email costs about as much time as a wrong password (a password hash is verified either way)', async () => {
    const password = 'copper meadow sideways 5523 delta';
    const known = freshEmail('timing.known');
    await createPasswordUser(t, known, password);
    const unknownTimes: number[] = [];
    const wrongTimes: number[] = [];
    // Warm up both paths once.
    await login(freshEmail('timing.nobody'), password);
    await login(known, password);
    for (let i = 0; i < 7; i++) {
      let start = performance.now();
      expectProblem(await login(freshEmail('timing.nobody'), password), 401, 'invalid_credentials');
      unknownTimes.push(performance.now() - start);
      start = performance.now();
      expectProblem(await login(known, 'wrong password here 000'), 401, 'invalid_credentials');
      wrongTimes.push(performance.now() - start);
      // A success resets the consecutive-failure count so the account never locks here.
      expect((await login(known, password)).statusCode).toBe(200);
    }
    // Loose bound: skipping the hash for unknown emails makes them an order of magnitude faster.
    expect(median(unknownTimes)).toBeGreaterThan(median(wrongTimes) * 0.4);
  });
});

describe('account lockout', () => {
  it(`V6.3.1 locks after exactly maxFailures (${MAX_FAILURES}) consecutive failures; the right password is then refused the same way`, async () => {
    const password = 'harbour violet thunder 4410 kiwi';
    const email = freshEmail('lock.exact');
    await createPasswordUser(t, email, password);
    const ip = freshIp();

    // maxFailures − 1 failures: not locked yet, the right password still works (and resets the count).
    for (let i = 0; i < MAX_FAILURES - 1; i++) expectProblem(await login(email, `wrong ${i} password value`, ip), 401, 'invalid_credentials');
    tokensOf(await login(email, password, ip));

    // The count restarted: another maxFailures − 1 failures still leave the account open.
    for (let i = 0; i < MAX_FAILURES - 1; i++) expectProblem(await login(email, `wrong ${i} password value`, ip), 401, 'invalid_credentials');
    tokensOf(await login(email, password, ip));

    // maxFailures consecutive failures: locked.
    for (let i = 0; i < MAX_FAILURES; i++) expectProblem(await login(email, `wrong ${i} password value`, ip), 401, 'invalid_credentials');
    const locked = await login(email, password, ip);
    expectProblem(locked, 401, 'invalid_credentials');
    // From any other address too: the lock is on the account, not the client.
    expectProblem(await login(email, password, freshIp()), 401, 'invalid_credentials');
  });

  it('V6.3.1 a locked account does not affect another account logging in from the same address', async () => {
    const password = 'pebble orchard lunar 8812 flint';
    const victim = freshEmail('lock.victim');
    const bystander = freshEmail('lock.bystander');
    await createPasswordUser(t, victim, password);
    await createPasswordUser(t, bystander, password);
    const ip = freshIp();
    for (let i = 0; i < MAX_FAILURES; i++) await login(victim, 'guessing wrongly again 9', ip);
    expectProblem(await login(victim, password, ip), 401, 'invalid_credentials');
    const ok = tokensOf(await login(bystander, password, ip));
    expect((await me(ok.accessToken)).statusCode).toBe(200);
  });
  it(`V6.3.1 the lock lasts lockMinutes (${LOCK_MINUTES}) and then lifts by itself`, async () => {
    const password = 'thistle monsoon origami 2207 lynx';
    const email = freshEmail('lock.period');
    await createPasswordUser(clocked, email, password);
    for (let i = 0; i < MAX_FAILURES; i++) expectProblem(await login(email, 'a wrong password value', freshIp(), clocked), 401, 'invalid_credentials');
    expectProblem(await login(email, password, freshIp(), clocked), 401, 'invalid_credentials');
    clock.advance(LOCK_MINUTES * 60_000 - 1_000);
    expectProblem(await login(email, password, freshIp(), clocked), 401, 'invalid_credentials');
    clock.advance(2_000);
    expect((await login(email, password, freshIp(), clocked)).statusCode).toBe(200);
  });
});

describe('per-address throttle of authentication', () => {
  it('V2.4.1 V6.3.1 refuses logins above rateLimits.authentication with 429, Retry-After and RateLimit-* headers; other addresses unaffected', async () => {
    const ip = '203.0.113.77';
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < THROTTLE_LIMIT * 3; i++) {
      const response = await login(`throttle.${i}@example.test`, 'some password value here', ip, throttled);
      statuses.push(response.statusCode);
      if (response.statusCode === 429) refused ??= response;
      else expectProblem(response, 401, 'invalid_credentials');
    }
    const accepted = statuses.filter((status) => status !== 429).length;
    expect(accepted).toBeGreaterThanOrEqual(THROTTLE_LIMIT);
    expect(accepted).toBeLessThanOrEqual(THROTTLE_LIMIT + 1);
    expect(refused, 'no request was throttled').toBeDefined();
    expectProblem(refused!, 429);
    expect(refused!.headers['retry-after']).toMatch(/^\d+$/);
    expect(Number(refused!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused!.headers['ratelimit-limit']).toBe(String(THROTTLE_LIMIT));
    expect(refused!.headers['ratelimit-remaining']).toBe('0');
    expect(refused!.headers['ratelimit-reset']).toMatch(/^\d+$/);
    // A throttled address cannot log in even with the right password...
    expectProblem(await login(ROOT_EMAIL, ROOT_PASSWORD, ip, throttled), 429);
    // ...while another address can.
    expect((await login(ROOT_EMAIL, ROOT_PASSWORD, '203.0.113.78', throttled)).statusCode).toBe(200);
  });
});

describe('refresh-token rotation', () => {
  it('V10.4.5 every refresh returns a new token pair; the new access token works', async () => {
    const first = await loginOk(ROOT_EMAIL, ROOT_PASSWORD);
    const second = tokensOf(await refresh(first.refreshToken));
    expect(second).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), tokenType: 'Bearer', expiresIn: 600 });
    expect(second.refreshToken).not.toBe(first.refreshToken);
    const third = tokensOf(await refresh(second.refreshToken));
    expect(third.refreshToken).not.toBe(second.refreshToken);
    expect(third.refreshToken).not.toBe(first.refreshToken);
    const who = await me(third.accessToken);
    expect(who.statusCode).toBe(200);
    expect(who.json<Me>().email).toBe(ROOT_EMAIL);
  });

  it('V10.4.5 an unknown or malformed refresh token is 401 invalid_refresh_token', async () => {
    expectProblem(await refresh('definitely-not-a-refresh-token'), 401, 'invalid_refresh_token');
    expectProblem(await refresh('A'.repeat(43)), 401, 'invalid_refresh_token');
  });

  it('V10.4.5 reusing a rotated refresh token is refused and revokes the whole family (the newest token dies too)', async () => {
    const first = await loginOk(ROOT_EMAIL, ROOT_PASSWORD);
    const second = tokensOf(await refresh(first.refreshToken));
    const third = tokensOf(await refresh(second.refreshToken));
    // Replay of an already-rotated token.
    expectProblem(await refresh(first.refreshToken), 401, 'invalid_refresh_token');
    // The newest token of that family is dead now as well.
    expectProblem(await refresh(third.refreshToken), 401, 'invalid_refresh_token');
    expectProblem(await refresh(second.refreshToken), 401, 'invalid_refresh_token');
    // Another session of the same user is untouched.
    const other = await loginOk(ROOT_EMAIL, ROOT_PASSWORD);
    tokensOf(await refresh(other.refreshToken));
  });

  it('V10.4.5 two concurrent refreshes of one token: exactly one 200 and one 401, then the family is revoked', async () => {
    const first = await loginOk(ROOT_EMAIL, ROOT_PASSWORD);
    const results = await Promise.all([refresh(first.refreshToken), refresh(first.refreshToken)]);
    const statuses = results.map((response) => response.statusCode).sort();
    expect(statuses).toEqual([200, 401]);
    const loser = results.find((response) => response.statusCode === 401)!;
    expectProblem(loser, 401, 'invalid_refresh_token');
    const winner = results.find((response) => response.statusCode === 200)!.json<Tokens>();
    expectProblem(await refresh(winner.refreshToken), 401, 'invalid_refresh_token');
  });
});

describe('logout', () => {
  it("V7.4.1 logout answers 204 and ends that session (refresh and access tokens), not the user's other sessions", async () => {
    const password = 'sailboat granite mellow 3381 echo';
    const email = freshEmail('logout.one');
    await createPasswordUser(t, email, password);
    const a = await loginOk(email, password);
    const b = await loginOk(email, password);
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout' }), 401);
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(a.accessToken) });
    expect(response.statusCode, response.body).toBe(204);
    expect(response.body).toBe('');
    expectProblem(await refresh(a.refreshToken), 401, 'invalid_refresh_token');
    tokensOf(await refresh(b.refreshToken));
    // The ended login's access token stops at once; the other login's keeps working.
    expectProblem(await me(a.accessToken), 401);
    expect((await me(b.accessToken)).statusCode).toBe(200);
  });

  it("V7.4.1 V7.5.2 logout-all answers 204 and ends every session of the user (refresh and access tokens), not other users'", async () => {
    const password = 'tundra pickle harmony 6620 vega';
    const email = freshEmail('logout.all');
    await createPasswordUser(t, email, password);
    const a = await loginOk(email, password);
    const b = await loginOk(email, password);
    const rotated = tokensOf(await refresh(b.refreshToken));
    const someoneElse = await loginOk(ROOT_EMAIL, ROOT_PASSWORD);
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: bearer(a.accessToken) });
    expect(response.statusCode, response.body).toBe(204);
    expectProblem(await refresh(a.refreshToken), 401, 'invalid_refresh_token');
    expectProblem(await refresh(rotated.refreshToken), 401, 'invalid_refresh_token');
    tokensOf(await refresh(someoneElse.refreshToken));
    // Every access token of the user stops at once; another user's does not; a new login works.
    expectProblem(await me(a.accessToken), 401);
    expectProblem(await me(rotated.accessToken), 401);
    expect((await me(someoneElse.accessToken)).statusCode).toBe(200);
    expect((await me((await loginOk(email, password)).accessToken)).statusCode).toBe(200);
  });
});

describe('password change', () => {
  it('V6.2.2 V6.2.3 a wrong current password is 401 invalid_credentials; a new password failing policy is 422 password_*', async () => {
    const password = 'walnut cascade bicycle 2290 opal';
    const email = freshEmail('pwchange.reject');
    await createPasswordUser(t, email, password);
    const { accessToken } = await loginOk(email, password);
    expectProblem(await changePassword(accessToken, 'not my current password 1', 'a brand new long passphrase 77'), 401, 'invalid_credentials');
    const weak = await changePassword(accessToken, password, 'short');
    expectProblem(weak, 422);
    expect(problemOf(weak).code).toMatch(/^password_/);
    // V6.2.4: a top common password of acceptable length is refused too.
    const common = await changePassword(accessToken, password, 'passwordpassword');
    expectProblem(common, 422);
    expect(problemOf(common).code).toMatch(/^password_/);
    // Nothing changed: the old password still logs in.
    tokensOf(await login(email, password));
  });

  it('V6.2.2 V7.4.3 a change kills the old password, every refresh token, and access tokens issued before it', async () => {
    const oldPassword = 'marble sunrise fiddle 5147 zulu';
    const newPassword = 'glacier tangerine noodle 8026 rook';
    const email = freshEmail('pwchange.ok');
    await createPasswordUser(t, email, oldPassword);
    const s1 = await loginOk(email, oldPassword);
    const s2 = await loginOk(email, oldPassword);
    const response = await changePassword(s1.accessToken, oldPassword, newPassword);
    expect(response.statusCode, response.body).toBe(204);

    expectProblem(await login(email, oldPassword), 401, 'invalid_credentials');
    const fresh = tokensOf(await login(email, newPassword));
    const freshMe = await me(fresh.accessToken);
    expect(freshMe.statusCode, freshMe.body).toBe(200);

    expectProblem(await refresh(s1.refreshToken), 401, 'invalid_refresh_token');
    expectProblem(await refresh(s2.refreshToken), 401, 'invalid_refresh_token');
    expectProblem(await me(s1.accessToken), 401);
    expectProblem(await me(s2.accessToken), 401);
  });
});

describe('forced password change', () => {
  it('V6.4.1 V8.2.1 a user who must change the password can log in, but only /users/me and its password route answer until then', async () => {
    const password = 'lilac anvil postcard 6013 yeti';
    const newPassword = 'cobalt riverbank whistle 4472 moss';
    const email = freshEmail('mustchange');
    await createPasswordUser(t, email, password, { role: 'admin', mustChangePassword: true });
    const tokens = await loginOk(email, password);

    const self = await me(tokens.accessToken);
    expect(self.statusCode, self.body).toBe(200);
    expect(self.json<Me>().mustChangePassword).toBe(true);

    const blocked = [
      { method: 'GET' as const, url: '/api/v1/orgs' },
      { method: 'GET' as const, url: `/api/v1/orgs/${defaultOrgId}` },
      { method: 'POST' as const, url: '/api/v1/orgs', payload: { name: 'Sneaky', slug: `sneaky-${seq}` } },
    ];
    for (const request of blocked) {
      const response = await t.app.inject({ ...request, headers: { ...json, ...bearer(tokens.accessToken) } });
      expectProblem(response, 403, 'password_change_required');
    }

    expect((await changePassword(tokens.accessToken, password, newPassword)).statusCode).toBe(204);
    const after = await loginOk(email, newPassword);
    const afterMe = await me(after.accessToken);
    expect(afterMe.statusCode, afterMe.body).toBe(200);
    expect(afterMe.json<Me>().mustChangePassword).toBe(false);
    const orgs = await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: bearer(after.accessToken) });
    expect(orgs.statusCode, orgs.body).toBe(200);
  });
});

describe('disabled accounts', () => {
  it('V7.4.2 V8.3.2 disabling a user refuses their access token on the next request and their login with the usual 401', async () => {
    const password = 'saffron bellows quartz 9934 nova';
    const email = freshEmail('disabled');
    const id = await createPasswordUser(t, email, password, { role: 'viewer' });
    const tokens = await loginOk(email, password);
    expect((await me(tokens.accessToken)).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: bearer(tokens.accessToken) })).statusCode).toBe(200);
    const reference = await login(freshEmail('disabled.nobody'), password);

    await t.container.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', id).execute();
    await t.container.services.access.invalidate(id);

    expectProblem(await me(tokens.accessToken), 401);
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: bearer(tokens.accessToken) }), 401);
    const refused = await login(email, password);
    expectProblem(refused, 401, 'invalid_credentials');
    expect(problemOf(refused).detail).toBe(problemOf(reference).detail);
    // Beyond the letter of the contract (ASVS V7.4.2): the session cannot be renewed either.
    expect((await refresh(tokens.refreshToken)).statusCode).toBe(401);
  });
});

describe('X-Organization-Id', () => {
  it("V8.4.1 V8.2.2 naming an organisation the caller is not a member of is 404; one of their own is honoured", async () => {
    const password = 'juniper ratchet sonnet 1176 apex';
    const email = freshEmail('tenant');
    await createPasswordUser(t, email, password, { role: 'viewer' });
    const otherOrgId = newId();
    await t.container.db
      .transaction()
      .execute((tx) => t.container.repos.orgs.insert(tx, otherOrgId, { name: 'Elsewhere', slug: `elsewhere-${++seq}` }, null, new Date()));
    const { accessToken } = await loginOk(email, password);

    const own = await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: { ...bearer(accessToken), 'x-organization-id': defaultOrgId } });
    expect(own.statusCode, own.body).toBe(200);

    const foreign = await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: { ...bearer(accessToken), 'x-organization-id': otherOrgId } });
    expectProblem(foreign, 404);
    const missing = await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: { ...bearer(accessToken), 'x-organization-id': newId() } });
    expectProblem(missing, 404);
    // An existing foreign organisation and a non-existent one are indistinguishable.
    expect(problemOf(foreign).code).toBe(problemOf(missing).code);
    expect(problemOf(foreign).detail).toBe(problemOf(missing).detail);
  });
});
