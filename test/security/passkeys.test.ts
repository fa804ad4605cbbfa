import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { readAudit } from '../setup/audit-trail.js';
import { addMember, bearer, createUserWithPassword, freshIp, json, login, orgIdBySlug } from '../setup/identity-factory.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';
import { freePort, launchPasskeyBrowser, type AuthenticatorTab, type PasskeyBrowser } from '../setup/virtual-authenticator.js';
import { challenge, claimsOf } from './mfa-support.js';

/**
 * Passkeys (issue 8 §3) through real WebAuthn ceremonies: Chromium's virtual authenticator makes
 * every credential and assertion, the page runs at the app's origin (PUBLIC_URL=http://localhost:PORT)
 * and talks to the API over HTTP. Embedded PGlite, or PostgreSQL + Redis when set.
 */

let t: TestApp;
let browser: PasskeyBrowser;
let origin: string;
let orgId: string;
const clock = createManualClock(new Date());
const PASSWORD = 'a long passphrase for passkey tests 77';

interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
}
type Json = Record<string, unknown>;

beforeAll(async () => {
  const port = await freePort();
  origin = `http://localhost:${port}`;
  t = await createTestApp({ env: { PUBLIC_URL: origin }, overrides: { clock } });
  await t.app.listen({ port, host: 'localhost' });
  orgId = await orgIdBySlug(t, 'default');
  browser = await launchPasskeyBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** A member with a password and one passkey registered from a fresh tab (its own authenticator). */
async function withPasskey(email: string, role: 'viewer' | 'admin' = 'viewer') {
  const id = await createUserWithPassword(t, email, PASSWORD);
  await addMember(t, orgId, id, role);
  const tokens = await login(t, email, PASSWORD);
  const tab = await browser.openTab(origin);
  const registered = await tab.call<ApiAnswer<{ passkey: Json; backupCodes: string[] }>>('registerPasskey', tokens.accessToken, 'Laptop');
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  return { id, email, tab, tokens, passkey: registered.body.passkey, backupCodes: registered.body.backupCodes };
}

const inject = (method: 'POST' | 'PATCH' | 'DELETE' | 'GET', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: payload === undefined ? headers : { ...json, ...headers }, payload: payload as Json, remoteAddress: freshIp() });

/** Options for a passwordless sign-in, fetched by the test (for ceremonies whose answer the test posts itself). */
async function passwordlessOptions(): Promise<Json> {
  const response = await inject('POST', '/auth/passkey/options', {});
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Json>();
}

describe('registration and sign-in', () => {
  it('[ASVS 6.3.3] a passkey registers (user verification required, discoverable) and answers the second step of a password login', async () => {
    const user = await withPasskey('pk-second@example.test');
    expect(user.passkey).toMatchObject({ name: 'Laptop', backedUp: false, lastUsedAt: null, transports: ['internal'] });
    expect(user.backupCodes).toHaveLength(10);
    const [row] = (await sql<Json>`select * from passkeys where user_id = ${user.id}`.execute(t.container.db)).rows;
    expect(row).toMatchObject({ transports: 'internal', aaguid: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'Laptop' });
    expect(Buffer.from(row!.publicKey as Uint8Array).length).toBeGreaterThanOrEqual(32);
    const [held] = await user.tab.credentials();
    // DevTools reports the id in standard base64, the API in base64url.
    expect(held).toMatchObject({ isResidentCredential: true });
    expect(Buffer.from(held!.credentialId, 'base64').toString('base64url')).toBe(row!.credentialId);
    expect(Number(row!.counter)).toBe(held!.signCount);

    const login1 = await challenge(t, user.email, PASSWORD);
    expect(login1.methods).toEqual(expect.arrayContaining(['passkey', 'backup-code']));
    const verified = await user.tab.call<ApiAnswer<{ accessToken: string }>>('secondFactor', login1.mfaToken);
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    const claims = claimsOf(verified.body.accessToken);
    expect(claims.amr).toEqual(['pwd', 'hwk', 'user', 'mfa']);
    expect(claims.auth_time).toBe(Math.floor(clock.nowMs() / 1000));
    const listed = await inject('GET', '/auth/mfa/passkeys', undefined, bearer(verified.body.accessToken));
    expect(listed.json<{ items: Json[] }>().items).toEqual([expect.objectContaining({ id: user.passkey.id, lastUsedAt: clock.now().toISOString() })]);
    const events = await readAudit(t, { action: 'auth.mfa.verified', actorId: user.id });
    expect(events.map((event) => event.detail)).toEqual([{ method: 'passkey' }]);
    expect(await readAudit(t, { action: 'passkey.registered', resourceId: user.passkey.id as string })).toHaveLength(1);
  });

  it('[ASVS 6.3.3] passwordless sign-in with tokens: amr hwk user mfa, which satisfies step-up', async () => {
    const user = await withPasskey('pk-passwordless@example.test');
    const signedIn = await user.tab.call<ApiAnswer<{ accessToken: string; refreshToken: string }>>('passwordless');
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    const claims = claimsOf(signedIn.body.accessToken);
    expect(claims).toMatchObject({ sub: user.id, amr: ['hwk', 'user', 'mfa'] });
    // Registering another passkey changes factors: a step-up action, refused to the password-only login.
    expect((await inject('POST', '/auth/mfa/passkeys/options', {}, bearer(user.tokens.accessToken))).statusCode).toBe(401);
    expect((await inject('POST', '/auth/mfa/passkeys/options', {}, bearer(signedIn.body.accessToken))).statusCode).toBe(200);
    const [event] = await readAudit(t, { action: 'auth.login.succeeded', actorId: user.id, resourceId: user.id }).then((rows) => rows.slice(-1));
    expect(event!.detail).toMatchObject({ amr: 'hwk user mfa' });
  });

  it('[ASVS 6.3.3] [ASVS 7.2.4] passwordless sign-in with `mode: "cookie"`: a browser session, no tokens', async () => {
    const user = await withPasskey('pk-cookie@example.test');
    const signedIn = await user.tab.call<ApiAnswer>('passwordless', 'cookie');
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    expect(signedIn.body).toMatchObject({ mode: 'cookie', csrfToken: expect.any(String) });
    expect(signedIn.body).not.toHaveProperty('accessToken');
    const cookie = (await user.tab.page.context().cookies(origin)).find((c) => c.name === '__Host-vutf_session');
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
    const me = await inject('GET', '/auth/mfa/passkeys', undefined, { cookie: `${cookie!.name}=${cookie!.value}` });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json<{ items: Json[] }>().items).toHaveLength(1);
  });
});

describe('refused ceremonies', () => {
  let user: Awaited<ReturnType<typeof withPasskey>>;
  beforeAll(async () => {
    user = await withPasskey('pk-refused@example.test');
  }, 60_000);

  const verifyPasswordless = (credential: unknown) => inject('POST', '/auth/passkey/verify', { credential });

  it('[ASVS 6.7.2] challenges are 256-bit, unique, single-use: a replayed assertion is refused', async () => {
    const options = await passwordlessOptions();
    expect(Buffer.from(options.challenge as string, 'base64url').length).toBe(32);
    expect((await passwordlessOptions()).challenge).not.toBe(options.challenge);
    const assertion = await user.tab.call<Json>('getCredential', options);
    expect((await verifyPasswordless(assertion)).statusCode).toBe(200);
    const replayed = await verifyPasswordless(assertion);
    expect(replayed.statusCode).toBe(401);
    expect(replayed.json()).toMatchObject({ code: 'invalid_passkey' });
    const failures = await readAudit(t, { action: 'auth.passkey.failed', outcome: 'denied' });
    expect(failures.at(-1)!.detail).toEqual({ reason: 'challenge' });
  });

  it('[ASVS 6.7.2] a challenge expires after 3 minutes (injectable clock), and a second-factor challenge is bound to its mfaToken', async () => {
    const options = await passwordlessOptions();
    const assertion = await user.tab.call<Json>('getCredential', options);
    clock.advance(181_000);
    expect((await verifyPasswordless(assertion)).statusCode).toBe(401);

    // An answer to one login's options does not complete another login of the same user.
    const first = await challenge(t, user.email, PASSWORD);
    const second = await challenge(t, user.email, PASSWORD);
    const optionsFirst = await inject('POST', '/auth/mfa/passkey/options', { mfaToken: first.mfaToken });
    expect(optionsFirst.statusCode).toBe(200);
    const answer = await user.tab.call<Json>('getCredential', optionsFirst.json());
    const crossed = await inject('POST', '/auth/mfa/verify', { mfaToken: second.mfaToken, method: 'passkey', code: JSON.stringify(answer) });
    expect(crossed.statusCode).toBe(401);
    expect((await inject('POST', '/auth/mfa/verify', { mfaToken: first.mfaToken, method: 'passkey', code: JSON.stringify(answer) })).statusCode).toBe(200);
  });

  it('[ASVS 6.3.4] an assertion made for another origin is refused (phishing resistance), though the key is the same', async () => {
    const phishing: AuthenticatorTab = await browser.openTab(`http://localhost:${await freePort()}`);
    // The same private key, copied through DevTools: only the origin differs.
    await browser.copyCredential(user.tab, phishing);
    const assertion = await phishing.call<Json>('getCredential', await passwordlessOptions());
    const clientData = JSON.parse(Buffer.from((assertion.response as { clientDataJSON: string }).clientDataJSON, 'base64url').toString('utf8')) as { origin: string };
    expect(clientData.origin).not.toBe(origin);
    const refused = await verifyPasswordless(assertion);
    expect(refused.statusCode).toBe(401);
    expect((await readAudit(t, { action: 'auth.passkey.failed' })).at(-1)!.detail).toEqual({ reason: 'signature' });
    await phishing.close();
  });

  it('[ASVS 6.3.3] without user verification: registration and sign-in are refused', async () => {
    const other = await createUserWithPassword(t, 'pk-nouv@example.test', PASSWORD);
    await addMember(t, orgId, other, 'viewer');
    const tokens = await login(t, 'pk-nouv@example.test', PASSWORD);
    // An authenticator without user verification, and a page that does not ask for it (a client ignoring the options).
    const tab = await browser.openTab(origin, { userVerification: false });
    const discouraged = { authenticatorSelection: { residentKey: 'discouraged', userVerification: 'discouraged' } };
    const registered = await tab.call<ApiAnswer>('registerPasskey', tokens.accessToken, 'No UV', discouraged);
    expect(registered.status).toBe(422);
    expect(registered.body).toMatchObject({ code: 'invalid_passkey' });
    expect(await sql`select 1 from passkeys where user_id = ${other}`.execute(t.container.db).then((r) => r.rows)).toHaveLength(0);
    await browser.copyCredential(user.tab, tab);
    const credentialId = (await sql<{ credentialId: string }>`select credential_id from passkeys where user_id = ${user.id}`.execute(t.container.db)).rows[0]!.credentialId;
    const noUv = { userVerification: 'discouraged', allowCredentials: [{ id: credentialId, type: 'public-key' }] };
    const assertion = await tab.call<Json>('getCredential', await passwordlessOptions(), noUv);
    const flags = Buffer.from((assertion.response as { authenticatorData: string }).authenticatorData, 'base64url')[32]!;
    expect(flags & 0x01).toBe(0x01); // user present
    expect(flags & 0x04).toBe(0); // user not verified
    expect((await verifyPasswordless(assertion)).statusCode).toBe(401);
    await tab.close();
  });
});

describe('management', () => {
  it("[ASVS 8.2.2] rename and remove act on the caller's own passkeys only: another user's is not found", async () => {
    const owner = await withPasskey('pk-owner@example.test');
    const intruder = await withPasskey('pk-intruder@example.test');
    const mfaToken = (await intruder.tab.call<ApiAnswer<{ accessToken: string }>>('passwordless')).body.accessToken;
    const id = owner.passkey.id as string;
    expect((await inject('PATCH', `/auth/mfa/passkeys/${id}`, { name: 'Mine now' }, bearer(mfaToken))).statusCode).toBe(404);
    expect((await inject('DELETE', `/auth/mfa/passkeys/${id}`, undefined, bearer(mfaToken))).statusCode).toBe(404);
    const renamed = await inject('PATCH', `/auth/mfa/passkeys/${id}`, { name: '  Work laptop ' }, bearer(owner.tokens.accessToken));
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ id, name: 'Work laptop' });
    expect(await readAudit(t, { action: 'passkey.renamed', resourceId: id, outcome: 'success' })).toHaveLength(1);
  });

  it('[ASVS 6.5.6] a passkey can be removed (step-up; backup codes go with the last factor), but not the last factor while MFA is required', async () => {
    const viewer = await withPasskey('pk-remove@example.test');
    const id = viewer.passkey.id as string;
    expect((await inject('DELETE', `/auth/mfa/passkeys/${id}`, undefined, bearer(viewer.tokens.accessToken))).json()).toMatchObject({ code: 'insufficient_user_authentication' });
    const fresh = (await viewer.tab.call<ApiAnswer<{ accessToken: string }>>('passwordless')).body.accessToken;
    expect((await inject('DELETE', `/auth/mfa/passkeys/${id}`, undefined, bearer(fresh))).statusCode).toBe(204);
    expect(await readAudit(t, { action: 'passkey.removed', resourceId: id, outcome: 'success' })).toHaveLength(1);
    const status = await inject('GET', '/auth/mfa', undefined, bearer(fresh));
    expect(status.json()).toMatchObject({ enrolled: false, methods: [], backupCodesRemaining: 0 });
    // The authenticator still holds the key, the server no longer knows it.
    expect((await viewer.tab.call<ApiAnswer>('passwordless')).status).toBe(401);
    expect(await login(t, viewer.email, PASSWORD)).toHaveProperty('accessToken');

    // Admins of the default organisation must have MFA (owners-and-admins): the last factor stays.
    const admin = await withPasskey('pk-admin@example.test', 'admin');
    const adminMfa = (await admin.tab.call<ApiAnswer<{ accessToken: string }>>('passwordless')).body.accessToken;
    const refused = await inject('DELETE', `/auth/mfa/passkeys/${admin.passkey.id as string}`, undefined, bearer(adminMfa));
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'mfa_required' });

    // A lost device: the admin reset removes passkeys with every other factor, and the key stops signing in.
    const root = await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password);
    const reset = await inject('POST', `/users/${admin.id}/mfa/reset`, {}, bearer(root.accessToken));
    expect(reset.json()).toEqual({ reset: true });
    expect((await sql`select 1 from passkeys where user_id = ${admin.id}`.execute(t.container.db)).rows).toHaveLength(0);
    expect((await admin.tab.call<ApiAnswer>('passwordless')).status).toBe(401);
  });
});
