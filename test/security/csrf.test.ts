import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createUserWithPassword, freshIp, json, login } from '../setup/identity-factory.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * The CSRF matrix (issue 8 §7): a state-changing request made with the session cookie needs the
 * session's synchronizer token and a same-origin Origin (or Referer); bearer-token and API-key
 * requests need neither; reads are unaffected. Refusals are 403 problem+json `csrf_failed`.
 * Embedded, and PostgreSQL + Redis when configured.
 */

type Response = Awaited<ReturnType<TestApp['app']['inject']>>;

const COOKIE = '__Host-vutf_session';
const ORIGIN = 'https://console.example.test';
const PASSWORD = 'a long and unusual passphrase 4 csrf';

let t: TestApp;
let seq = 0;

async function cookieSession() {
  const address = `csrf-${++seq}@example.test`;
  const userId = await createUserWithPassword(t, address, PASSWORD);
  const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: address, password: PASSWORD, mode: 'cookie' }, remoteAddress: freshIp() });
  expect(response.statusCode, response.body).toBe(200);
  const token = response.cookies.find((cookie) => cookie.name === COOKIE)!.value;
  return { address, userId, cookie: `${COOKIE}=${token}`, csrfToken: response.json<{ csrfToken: string }>().csrfToken };
}

/** A state change every signed-in user may make: renaming oneself. */
const rename = (headers: Record<string, string>, displayName = `name ${++seq}`) =>
  t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: { ...json, ...headers }, payload: { displayName } });

const expectCsrfFailed = (response: Response) => {
  expect(response.statusCode, response.body).toBe(403);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json<{ code: string }>().code).toBe('csrf_failed');
};

beforeAll(async () => {
  t = await createTestApp({ env: { PUBLIC_URL: ORIGIN } });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('requests made with the session cookie', () => {
  it('[ASVS 3.5.1] without the token: refused, and nothing changes', async () => {
    const session = await cookieSession();
    expectCsrfFailed(await rename({ cookie: session.cookie, origin: ORIGIN }, 'forged'));
    expectCsrfFailed(await rename({ cookie: session.cookie }, 'forged'));
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { cookie: session.cookie } });
    expect(me.json<{ displayName: string }>().displayName).not.toBe('forged');
  });

  it('[ASVS 3.5.1] with a wrong token, or the token of another session: refused', async () => {
    const session = await cookieSession();
    const other = await cookieSession();
    expectCsrfFailed(await rename({ cookie: session.cookie, origin: ORIGIN, 'x-csrf-token': 'x'.repeat(43) }));
    expectCsrfFailed(await rename({ cookie: session.cookie, origin: ORIGIN, 'x-csrf-token': other.csrfToken }));
    expectCsrfFailed(await rename({ cookie: session.cookie, origin: ORIGIN, 'x-csrf-token': session.csrfToken.slice(0, 42) }));
  });

  it('[ASVS 3.5.1] with the token: accepted; POST and DELETE are guarded like PATCH', async () => {
    const session = await cookieSession();
    const accepted = await rename({ cookie: session.cookie, origin: ORIGIN, 'x-csrf-token': session.csrfToken }, 'renamed');
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json<{ displayName: string }>().displayName).toBe('renamed');
    // Without an Origin or Referer (a non-browser client), the token alone suffices.
    expect((await rename({ cookie: session.cookie, 'x-csrf-token': session.csrfToken })).statusCode).toBe(200);
    // POST and DELETE too: a forged logout or "end all sessions" is refused and the session lives on.
    expectCsrfFailed(await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie: session.cookie, origin: ORIGIN } }));
    expectCsrfFailed(await t.app.inject({ method: 'DELETE', url: '/api/v1/auth/sessions?scope=all', headers: { cookie: session.cookie, origin: ORIGIN } }));
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { cookie: session.cookie } })).statusCode).toBe(200);
  });

  it('[ASVS 3.5.1] a foreign Origin is refused even with the right token; so is a foreign Referer, and Origin "null"', async () => {
    const session = await cookieSession();
    const withToken = { cookie: session.cookie, 'x-csrf-token': session.csrfToken };
    expectCsrfFailed(await rename({ ...withToken, origin: 'https://evil.example' }));
    expectCsrfFailed(await rename({ ...withToken, origin: 'https://console.example.test.evil.example' }));
    expectCsrfFailed(await rename({ ...withToken, origin: 'http://console.example.test' }));
    expectCsrfFailed(await rename({ ...withToken, origin: 'null' }));
    expectCsrfFailed(await rename({ ...withToken, referer: 'https://evil.example/page' }));
    expect((await rename({ ...withToken, referer: `${ORIGIN}/console/settings` })).statusCode).toBe(200);
  });

  it('[ASVS 3.5.3] reads need no token; the token comes with every cookie response and from GET /auth/csrf', async () => {
    const session = await cookieSession();
    const read = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { cookie: session.cookie, origin: 'https://evil.example' } });
    expect(read.statusCode).toBe(200);
    expect(read.headers['x-csrf-token']).toBe(session.csrfToken);
    const csrf = await t.app.inject({ method: 'GET', url: '/api/v1/auth/csrf', headers: { cookie: session.cookie } });
    expect(csrf.json()).toEqual({ csrfToken: session.csrfToken });
  });
});

describe('requests made with a bearer token or an API key', () => {
  it('[ASVS 3.5.1] a bearer request needs no token, even from a foreign Origin', async () => {
    const session = await cookieSession();
    const tokens = await login(t, session.address, PASSWORD);
    expect((await rename({ ...bearer(tokens.accessToken), origin: 'https://evil.example' })).statusCode).toBe(200);
    const csrf = await t.app.inject({ method: 'GET', url: '/api/v1/auth/csrf', headers: bearer(tokens.accessToken) });
    expect(csrf.json<{ code: string }>().code).toBe('not_a_browser_session');
  });

  it('[ASVS 3.5.1] a request with both a cookie and a bearer token is the bearer’s: no token needed, acting as the bearer', async () => {
    const cookieUser = await cookieSession();
    const other = await cookieSession();
    const tokens = await login(t, other.address, PASSWORD);
    const response = await rename({ cookie: cookieUser.cookie, ...bearer(tokens.accessToken) }, 'bearer wins');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<{ id: string }>().id).toBe(other.userId);
    expect(response.headers['x-csrf-token']).toBeUndefined();
  });

  it('[ASVS 3.5.1] an API-key request needs no token', async () => {
    const root = await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
    const create = (name: string) =>
      t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...json, ...bearer(root.accessToken) }, payload: { name, scopes: ['api-keys:revoke'] } });
    const key = (await create('revoker')).json<{ key: string }>().key;
    const victim = (await create('victim')).json<{ id: string }>().id;
    const session = await cookieSession();
    const revoked = await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${victim}`, headers: { 'x-api-key': key, cookie: session.cookie, origin: 'https://evil.example' } });
    expect(revoked.statusCode, revoked.body).toBe(204);
  });
});
