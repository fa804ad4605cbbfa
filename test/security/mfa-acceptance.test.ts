import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createUserWithPassword, orgIdBySlug } from '../setup/identity-factory.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { freePort, launchPasskeyBrowser, type AuthenticatorTab, type PasskeyBrowser } from '../setup/virtual-authenticator.js';
import { STEP_MS, claimsOf, oathCode, stepAlignedClock, type ManualClock } from './mfa-support.js';

/**
 * Acceptance of issue 8, as one user's journey over real HTTP (the app listens on
 * PUBLIC_URL=http://localhost:PORT; Node's fetch is the API client, Chromium with its virtual
 * authenticator the browser): enroll TOTP (codes from oathtool), sign in with it, use a backup code
 * once, register a passkey and sign in with it (passwordless and as the second factor), then a browser
 * session in cookie mode whose state-changing request needs the CSRF token. Embedded PGlite by
 * default; PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set.
 */

type Json = Record<string, unknown>;
interface Answer<T = Json> {
  status: number;
  body: T;
}

const PASSWORD = 'an acceptance passphrase for issue eight 88';
const EMAIL = 'mfa-acceptance@example.test';
const COOKIE = '__Host-vutf_session';

let t: TestApp;
let clock: ManualClock;
let origin: string;
let browser: PasskeyBrowser;
let tab: AuthenticatorTab;
let userId: string;

beforeAll(async () => {
  const port = await freePort();
  origin = `http://localhost:${port}`;
  clock = stepAlignedClock();
  t = await createTestApp({ env: { PUBLIC_URL: origin }, overrides: { clock } });
  await t.app.listen({ port, host: 'localhost' });
  // The account exists beforehand (an invitation's work, tested elsewhere); everything after is HTTP.
  userId = await createUserWithPassword(t, EMAIL, PASSWORD);
  await addMember(t, await orgIdBySlug(t, 'default'), userId, 'viewer');
  browser = await launchPasskeyBrowser();
  tab = await browser.openTab(origin);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** A request from the API client (Node's fetch): no cookie jar, no Origin, as a script or CLI sends it. */
async function api<T = Json>(method: 'GET' | 'POST', path: string, body?: Json, accessToken?: string): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const response = await fetch(`${origin}/api/v1${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: response.status, body: (await response.json().catch(() => null)) as T };
}

/** The next TOTP code from oathtool; the clock then moves a step on, since each code is accepted once. */
function nextCode(secret: string): string {
  const code = oathCode(secret, clock.nowMs());
  clock.advance(STEP_MS);
  return code;
}

/** The password step: MFA is on, so it answers a challenge, not tokens. */
async function passwordStep(mode?: 'cookie'): Promise<{ mfaToken: string; methods: string[] }> {
  const response = await api<{ mfaRequired: boolean; mfaToken: string; methods: string[]; accessToken?: string }>('POST', '/auth/login', {
    email: EMAIL,
    password: PASSWORD,
    ...(mode ? { mode } : {}),
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  expect(response.body).toMatchObject({ mfaRequired: true, mfaToken: expect.any(String) });
  expect(response.body.accessToken).toBeUndefined();
  return response.body;
}

const verify = (mfaToken: string, method: string, code: string) => api<{ accessToken: string; refreshToken: string }>('POST', '/auth/mfa/verify', { mfaToken, method, code });

describe('issue 8 acceptance: TOTP, backup code, passkey and a CSRF-protected browser session, through HTTP', () => {
  let secret = '';
  let backupCodes: string[] = [];
  let mfaAccessToken = '';

  it('[ASVS 6.3.3] the user enrolls TOTP: URI, QR and text secret; active after a first oathtool code; 10 backup codes', async () => {
    const password = await api<{ accessToken: string }>('POST', '/auth/login', { email: EMAIL, password: PASSWORD });
    expect(password.status, JSON.stringify(password.body)).toBe(200);
    const started = await api<{ secret: string; otpauthUri: string; qrCode: string }>('POST', '/auth/mfa/totp', {}, password.body.accessToken);
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    secret = started.body.secret;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(new URL(started.body.otpauthUri).searchParams.get('secret')).toBe(secret);
    expect(started.body.qrCode).toMatch(/^data:image\/png;base64,/);

    const confirmed = await api<{ backupCodes: string[] }>('POST', '/auth/mfa/totp/confirm', { code: nextCode(secret) }, password.body.accessToken);
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    backupCodes = confirmed.body.backupCodes;
    expect(new Set(backupCodes).size).toBe(10);
    const status = await api('GET', '/auth/mfa', undefined, password.body.accessToken);
    expect(status.body).toMatchObject({ enrolled: true, methods: ['totp'], backupCodesRemaining: 10 });
  });

  it('[ASVS 6.3.3] the user signs in with password + TOTP: mfaRequired, then /auth/mfa/verify gives tokens with amr and auth_time', async () => {
    const { mfaToken, methods } = await passwordStep();
    expect(methods).toEqual(['totp', 'backup-code']);
    const code = nextCode(secret);
    // auth_time is the moment of the MFA answer (the clock already a step past the code's).
    const at = clock.nowMs();
    const verified = await verify(mfaToken, 'totp', code);
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(claimsOf(verified.body.accessToken)).toMatchObject({ sub: userId, amr: ['pwd', 'otp', 'mfa'], auth_time: Math.floor(at / 1000) });
    mfaAccessToken = verified.body.accessToken;
  });

  it('[ASVS 6.5.1] a backup code signs in once; its second use, on a new sign-in, fails; 9 remain', async () => {
    const code = backupCodes[3]!;
    const first = await verify((await passwordStep()).mfaToken, 'backup-code', code);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const second = await verify((await passwordStep()).mfaToken, 'backup-code', code);
    expect(second.status).toBe(401);
    expect(second.body).toMatchObject({ code: 'invalid_mfa' });
    const status = await api('GET', '/auth/mfa', undefined, first.body.accessToken);
    expect(status.body).toMatchObject({ backupCodesRemaining: 9 });
  });

  it('[ASVS 6.3.3] the user registers a passkey (Chromium virtual authenticator) and signs in with it, passwordless and as the second factor', async () => {
    // Adding a factor is a step-up action: the TOTP sign-in above is recent enough.
    const registered = await tab.call<Answer<{ passkey: { id: string; name: string } }>>('registerPasskey', mfaAccessToken, 'Acceptance laptop');
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    expect(registered.body.passkey).toMatchObject({ name: 'Acceptance laptop' });
    expect(await tab.credentials()).toHaveLength(1);

    const passwordless = await tab.call<Answer<{ accessToken: string }>>('passwordless');
    expect(passwordless.status, JSON.stringify(passwordless.body)).toBe(200);
    expect(claimsOf(passwordless.body.accessToken)).toMatchObject({ sub: userId, amr: ['hwk', 'user', 'mfa'] });

    const { mfaToken, methods } = await passwordStep();
    expect(methods).toEqual(expect.arrayContaining(['totp', 'passkey', 'backup-code']));
    const second = await tab.call<Answer<{ accessToken: string }>>('secondFactor', mfaToken);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(claimsOf(second.body.accessToken)).toMatchObject({ sub: userId, amr: ['pwd', 'hwk', 'user', 'mfa'] });
    // The token was used by that sign-in: it does not complete another.
    expect((await verify(mfaToken, 'totp', nextCode(secret))).status).toBe(401);
  });

  it('[ASVS 3.5.1] [ASVS 7.2.4] cookie mode in the browser: a __Host- session; a state change with the CSRF token passes, without it 403', async () => {
    // The code is the oracle's, computed here; the browser does the rest with its own cookie jar.
    const code = nextCode(secret);
    const { mfaToken } = await passwordStep('cookie');
    const outcome = await tab.page.evaluate(
      async ({ mfaToken: token, code: totp }) => {
        const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
          const response = await fetch(`/api/v1${path}`, {
            method,
            headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          return { status: response.status, body: (await response.json().catch(() => null)) as Record<string, unknown> | null };
        };
        const verified = await call('POST', '/auth/mfa/verify', { mfaToken: token, method: 'totp', code: totp, mode: 'cookie' });
        const csrf = await call('GET', '/auth/csrf');
        const csrfToken = (csrf.body?.csrfToken as string | undefined) ?? '';
        const withToken = await call('PATCH', '/users/me', { displayName: 'Accepted name' }, { 'x-csrf-token': csrfToken });
        // After the accepted change, so the name read last shows the refused one changed nothing.
        const withoutToken = await call('PATCH', '/users/me', { displayName: 'Forged name' });
        const me = await call('GET', '/users/me');
        return { verified, csrf, withoutToken, withToken, me };
      },
      { mfaToken, code },
    );

    expect(outcome.verified.status, JSON.stringify(outcome.verified.body)).toBe(200);
    expect(outcome.verified.body).toMatchObject({ mode: 'cookie', csrfToken: expect.any(String) });
    expect(outcome.verified.body).not.toHaveProperty('accessToken');
    const cookie = (await tab.page.context().cookies(origin)).find((c) => c.name === COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });

    expect(outcome.csrf).toEqual({ status: 200, body: { csrfToken: outcome.verified.body!.csrfToken } });
    expect(outcome.withoutToken.status).toBe(403);
    expect(outcome.withoutToken.body).toMatchObject({ code: 'csrf_failed' });
    expect(outcome.withToken.status, JSON.stringify(outcome.withToken.body)).toBe(200);
    expect(outcome.me.body).toMatchObject({ id: userId, displayName: 'Accepted name' });
  });
});
