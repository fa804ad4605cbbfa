import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { createOrg, createUserWithPassword, freshIp, json, login } from '../setup/identity-factory.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { enrollTotp, oathCode, post } from './mfa-support.js';

/**
 * Browser-session deadlines on the injectable clock (issue 8 §6; nothing sleeps): idle timeout 15 min,
 * 10 min for owners and admins, absolute lifetime 12 h, all from the default policy; and a request
 * refused by the CSRF guard does not count as activity. Embedded, and PostgreSQL + Redis when
 * configured (the store's own expiry is then real time, so the rules are enforced by the code).
 */

type Response = Awaited<ReturnType<TestApp['app']['inject']>>;

const COOKIE = '__Host-vutf_session';
const ORIGIN = 'https://console.example.test';
const PASSWORD = 'a long and unusual passphrase 4 expiry';
const MINUTE = 60_000;

const clock = createManualClock(new Date());
let t: TestApp;
let seq = 0;

async function signIn(name: string, role: 'owner' | null = null) {
  const address = `${name}-${++seq}@example.test`;
  const id = await createUserWithPassword(t, address, PASSWORD);
  if (role) await createOrg(t, `expiry-${seq}`, [id]);
  const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: address, password: PASSWORD, mode: 'cookie' }, remoteAddress: freshIp() });
  expect(response.statusCode, response.body).toBe(200);
  return { token: response.cookies.find((cookie) => cookie.name === COOKIE)!.value, csrf: response.json<{ csrfToken: string; idleTimeoutSeconds: number }>() };
}

const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { cookie: `${COOKIE}=${token}` } });
const later = async (minutes: number, token: string): Promise<Response> => {
  clock.advance(minutes * MINUTE);
  return me(token);
};
const expectExpired = (response: Response) => {
  expect(response.statusCode).toBe(401);
  expect(response.json<{ code: string }>().code).toBe('unauthorized');
  expect(response.cookies.find((cookie) => cookie.name === COOKIE)?.value).toBe('');
};

beforeAll(async () => {
  t = await createTestApp({ env: { PUBLIC_URL: ORIGIN }, overrides: { clock } });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('idle timeout', () => {
  it('[ASVS 7.3.1] a session used within 15 minutes lives on; 15 minutes without a request end it', async () => {
    const { token, csrf } = await signIn('idle');
    expect(csrf.idleTimeoutSeconds).toBe(900);
    expect((await later(14, token)).statusCode).toBe(200);
    expect((await later(14, token)).statusCode).toBe(200);
    expectExpired(await later(15, token));
    // Ended for good: time going on does not revive it.
    expect((await later(1, token)).statusCode).toBe(401);
  });

  it('[ASVS 7.3.1] owners and admins get 10 minutes', async () => {
    const { token, csrf } = await signIn('owner', 'owner');
    expect(csrf.idleTimeoutSeconds).toBe(600);
    expect((await later(9, token)).statusCode).toBe(200);
    expectExpired(await later(10, token));
  });

  it('[ASVS 3.5.1] [ASVS 7.3.1] a request refused by the CSRF guard is not activity: it does not keep the session alive', async () => {
    const { token } = await signIn('forged');
    clock.advance(14 * MINUTE);
    const forged = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: { ...json, cookie: `${COOKIE}=${token}`, origin: ORIGIN },
      payload: { displayName: 'forged' },
    });
    expect(forged.statusCode).toBe(403);
    expectExpired(await later(1, token));
  });
});

describe('absolute lifetime', () => {
  it('[ASVS 7.3.2] a session in constant use still ends 12 hours after sign-in', async () => {
    const { token } = await signIn('absolute');
    // A request every 10 minutes for 11 h 50 min: never idle.
    for (let step = 1; step < 72; step += 1) expect((await later(10, token)).statusCode, `after ${step * 10} min`).toBe(200);
    expectExpired(await later(10, token));
  });
});

describe('MFA sign-in delivering a browser session', () => {
  it('[ASVS 7.2.4] password + TOTP with mode: "cookie" gives a new session carrying the MFA in amr and auth_time', async () => {
    const address = `mfa-${++seq}@example.test`;
    await createUserWithPassword(t, address, PASSWORD);
    const { secret } = await enrollTotp(t, clock, (await login(t, address, PASSWORD)).accessToken);
    const step = await post(t, '/api/v1/auth/login', { email: address, password: PASSWORD, mode: 'cookie' });
    expect(step.statusCode, step.body).toBe(200);
    expect(step.cookies).toHaveLength(0);
    const { mfaToken } = step.json<{ mfaToken: string }>();
    const verified = await post(t, '/api/v1/auth/mfa/verify', { mfaToken, method: 'totp', code: oathCode(secret, clock.nowMs()), mode: 'cookie' });
    expect(verified.statusCode, verified.body).toBe(200);
    expect(verified.json()).toMatchObject({ mode: 'cookie' });
    expect(verified.body).not.toMatch(/accessToken|refreshToken/);
    const token = verified.cookies.find((cookie) => cookie.name === COOKIE)!.value;
    const listed = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: { cookie: `${COOKIE}=${token}` } });
    const [session] = listed.json<{ items: Array<{ amr: string[]; authTime: string; current: boolean }> }>().items;
    expect(session!.current).toBe(true);
    expect(session!.amr).toContain('otp');
    expect(Math.abs(Date.parse(session!.authTime) - clock.nowMs())).toBeLessThan(2000);
  });
});
