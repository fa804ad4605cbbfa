import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAudit } from '../setup/audit-trail.js';
import { readOutbox, tokenFromMail } from '../setup/mail-outbox.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';
import { bearer, createUserWithPassword, json } from '../setup/identity-factory.js';

/**
 * Every authentication operation is an audit event (issue 4 item 1): sign-in successes, failures and
 * locks, token refresh (and reuse of a used refresh token), logout, registration, password-reset
 * requests, invitation acceptance and refused API keys. Who (the user once proven; otherwise only the
 * blind index of the submitted email), from where (client address and agent, encrypted), which
 * request, and nothing personal or secret in clear.
 */

const PASSWORD = 'copper meadow lantern 9051';
const policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-auth-events-'));
let t: TestApp;
let seq = 0;
const freshEmail = (label: string) => `${label}.${++seq}@example.test`;

const post = (url: string, payload: unknown, ip: string, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url: `/api/v1${url}`,
    remoteAddress: ip,
    headers: { ...(payload === undefined ? {} : json), 'user-agent': 'audit-probe/1.0', ...headers },
    ...(payload === undefined ? {} : { payload: payload as object }),
  });

const login = (email: string, password: string, ip: string) => post('/auth/login', { email, password }, ip);

const requestIdOf = (response: { headers: Record<string, unknown> }) => response.headers['x-request-id'] as string;

beforeAll(async () => {
  const policyFile = path.join(policyDir, 'policy.yaml');
  writeFileSync(policyFile, 'accounts:\n  selfRegistration: true\nrateLimits:\n  authentication:\n    limit: 1000\n    windowSeconds: 60\n');
  t = await createTestApp({ env: { POLICY_FILE: policyFile } });
}, 120_000);

afterAll(async () => {
  await t?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

describe('sign-in', () => {
  it('[ASVS 16.3.1] records a successful login with the user, the organisation, the client address, agent and request id', async () => {
    const response = await login(BOOTSTRAP_ADMIN.email.toUpperCase(), BOOTSTRAP_ADMIN.password, '10.1.0.1');
    expect(response.statusCode, response.body).toBe(200);
    const admin = await t.container.repos.users.findByEmail(t.container.db, BOOTSTRAP_ADMIN.email);
    const success = await readAudit(t, { action: 'auth.login.succeeded', subjectEmail: BOOTSTRAP_ADMIN.email });
    expect(success).toHaveLength(1);
    expect(success[0]).toMatchObject({
      actorType: 'user',
      actorId: admin!.id,
      resourceId: admin!.id,
      outcome: 'success',
      clientIp: '10.1.0.1',
      userAgent: 'audit-probe/1.0',
      requestId: requestIdOf(response),
    });
    expect(success[0]!.orgId).toEqual(expect.any(String));
    expect(success[0]!.occurredAt).toBeInstanceOf(Date);
  });

  it('[ASVS 16.3.1] records failures for known and unknown emails alike, keyed by the blind index only', async () => {
    const known = await login(BOOTSTRAP_ADMIN.email, 'not the password at all', '10.1.0.2');
    const unknown = await login('nobody@example.test', 'not the password at all', '10.1.0.2');
    expect(known.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    const knownFailures = await readAudit(t, { action: 'auth.login.failed', subjectEmail: BOOTSTRAP_ADMIN.email });
    const unknownFailures = await readAudit(t, { action: 'auth.login.failed', subjectEmail: 'nobody@example.test' });
    expect(knownFailures).toHaveLength(1);
    expect(unknownFailures).toHaveLength(1);
    for (const [event, response] of [
      [knownFailures[0]!, known],
      [unknownFailures[0]!, unknown],
    ] as const) {
      // Same shape for both: no user (that would tell which emails have accounts), a failure count.
      expect(event).toMatchObject({ actorType: 'anonymous', actorId: null, actorUserId: null, resourceId: null, outcome: 'denied', clientIp: '10.1.0.2', requestId: requestIdOf(response), detail: { failures: 1 } });
    }
    // The route records through its service: a refused sign-in is not also an `access.denied`.
    expect(await readAudit(t, { action: 'access.denied', requestId: requestIdOf(known) })).toEqual([]);
  });

  it('[ASVS 16.3.3] records the lock once, by the failure that locks, and not the failures after it', async () => {
    const email = 'lock-me@example.test';
    for (let attempt = 0; attempt < 7; attempt += 1) expect((await login(email, 'wrong wrong wrong wrong', '10.1.0.3')).statusCode).toBe(401);
    expect(await readAudit(t, { action: 'auth.login.failed', subjectEmail: email })).toHaveLength(7);
    const locks = await readAudit(t, { action: 'auth.account.locked', subjectEmail: email });
    expect(locks).toHaveLength(1);
    expect(Date.parse(String(locks[0]!.detail.until))).toBeGreaterThan(Date.now());
  });
});

describe('tokens and logout', () => {
  it('[ASVS 16.3.1] records a refresh, the reuse of a used refresh token, and an invalid one', async () => {
    const email = freshEmail('refresher');
    const userId = await createUserWithPassword(t, email, PASSWORD);
    const tokens = (await login(email, PASSWORD, '10.1.1.1')).json<{ refreshToken: string }>();
    const loggedIn = await readAudit(t, { action: 'auth.login.succeeded', actorId: userId });
    const { sessionId, familyId } = loggedIn[0]!.detail as { sessionId: string; familyId: string };

    const refreshed = await post('/auth/refresh', { refreshToken: tokens.refreshToken }, '10.1.1.2');
    expect(refreshed.statusCode).toBe(200);
    expect(await readAudit(t, { action: 'auth.token.refreshed', requestId: requestIdOf(refreshed) })).toMatchObject([
      { actorType: 'user', actorId: userId, resourceId: sessionId, outcome: 'success', clientIp: '10.1.1.2', detail: { familyId } },
    ]);

    // The first token again: a copy is in someone's hands, the login dies, and that is on record.
    const replayed = await post('/auth/refresh', { refreshToken: tokens.refreshToken }, '10.1.1.3');
    expect(replayed.statusCode).toBe(401);
    expect(await readAudit(t, { action: 'auth.token.reuse-detected', requestId: requestIdOf(replayed) })).toMatchObject([
      { actorType: 'anonymous', outcome: 'denied', clientIp: '10.1.1.3', detail: { familyId } },
    ]);

    const invalid = await post('/auth/refresh', { refreshToken: 'vutf_rt_not-a-token' }, '10.1.1.4');
    expect(invalid.statusCode).toBe(401);
    const [failed] = await readAudit(t, { action: 'auth.token.refresh-failed', requestId: requestIdOf(invalid) });
    expect(failed).toMatchObject({ actorType: 'anonymous', outcome: 'denied', clientIp: '10.1.1.4', detail: { reason: 'invalid' } });
    // The presented token is a secret: no column holds it.
    expect(JSON.stringify(failed)).not.toContain('not-a-token');
    expect(JSON.stringify(await readAudit(t, { action: 'auth.token.reuse-detected' }))).not.toContain(tokens.refreshToken);
  });

  it('[ASVS 16.3.1] records logout and logout-all as the signed-in user', async () => {
    const email = freshEmail('leaver');
    const userId = await createUserWithPassword(t, email, PASSWORD);
    const first = (await login(email, PASSWORD, '10.1.2.1')).json<{ accessToken: string }>();
    const second = (await login(email, PASSWORD, '10.1.2.1')).json<{ accessToken: string }>();
    const out = await post('/auth/logout', undefined, '10.1.2.2', bearer(first.accessToken));
    expect(out.statusCode).toBe(204);
    expect(await readAudit(t, { action: 'auth.logout', requestId: requestIdOf(out) })).toMatchObject([{ actorId: userId, outcome: 'success', detail: { revoked: true } }]);
    const all = await post('/auth/logout-all', undefined, '10.1.2.3', bearer(second.accessToken));
    expect(all.statusCode).toBe(204);
    expect(await readAudit(t, { action: 'auth.logout-all', requestId: requestIdOf(all) })).toMatchObject([{ actorId: userId, resourceId: userId, detail: { families: 1 } }]);
  });
});

describe('mailed flows', () => {
  it('[ASVS 16.3.1] a password-reset request is the same event whether or not an account uses the address', async () => {
    const email = freshEmail('forgetful');
    await createUserWithPassword(t, email, PASSWORD);
    const known = await post('/auth/password-reset', { email }, '10.1.3.1');
    const unknown = await post('/auth/password-reset', { email: 'no-such-account@example.test' }, '10.1.3.1');
    expect([known.statusCode, unknown.statusCode]).toEqual([202, 202]);
    const [forKnown] = await readAudit(t, { action: 'auth.password-reset.requested', subjectEmail: email });
    const [forUnknown] = await readAudit(t, { action: 'auth.password-reset.requested', subjectEmail: 'no-such-account@example.test' });
    const shape = ({ actorType, actorId, actorUserId, orgId, resourceId, outcome, detail }: NonNullable<typeof forKnown>) => ({ actorType, actorId, actorUserId, orgId, resourceId, outcome, detail });
    expect(shape(forKnown!)).toEqual(shape(forUnknown!));
    expect(forKnown).toMatchObject({ actorType: 'anonymous', requestId: requestIdOf(known) });
  });

  it('[ASVS 16.3.1] records a registration request (by the blind index) and its confirmation (as the new account)', async () => {
    const email = freshEmail('newcomer');
    const requested = await post('/auth/register', { email, displayName: 'New Comer', password: PASSWORD }, '10.1.4.1');
    expect(requested.statusCode, requested.body).toBe(202);
    expect(await readAudit(t, { action: 'auth.registration.requested', subjectEmail: email })).toMatchObject([{ actorType: 'anonymous', requestId: requestIdOf(requested) }]);
    const [mail] = await readOutbox(t, email);
    const confirmed = await post('/auth/register/confirm', { token: tokenFromMail(mail!.body) }, '10.1.4.2');
    expect(confirmed.statusCode, confirmed.body).toBe(201);
    const { userId } = confirmed.json<{ userId: string }>();
    expect(await readAudit(t, { action: 'auth.registration.confirmed', requestId: requestIdOf(confirmed) })).toMatchObject([{ actorType: 'user', actorId: userId, resourceId: userId, clientIp: '10.1.4.2' }]);
  });

  it('[ASVS 16.3.1] records an accepted invitation as the new member, in the invitation’s organisation', async () => {
    const root = (await login(BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password, '10.1.5.1')).json<{ accessToken: string }>();
    const orgId = (await sql<{ id: string }>`select id from organisations where slug = 'default'`.execute(t.container.db)).rows[0]!.id;
    const email = freshEmail('invitee');
    const invited = await post(`/orgs/${orgId}/invitations`, { email, role: 'viewer' }, '10.1.5.1', bearer(root.accessToken));
    expect(invited.statusCode, invited.body).toBe(201);
    const [mail] = await readOutbox(t, email);
    const accepted = await post('/invitations/accept', { token: tokenFromMail(mail!.body), displayName: 'Invitee', password: PASSWORD }, '10.1.5.2');
    expect(accepted.statusCode, accepted.body).toBe(201);
    const { userId } = accepted.json<{ userId: string }>();
    expect(await readAudit(t, { action: 'auth.invitation.accepted', requestId: requestIdOf(accepted) })).toMatchObject([
      { actorType: 'user', actorId: userId, orgId, resourceId: invited.json<{ id: string }>().id, detail: { role: 'viewer', newAccount: true } },
    ]);
  });

  it('[ASVS 16.3.1] a refused mailed token (reset, registration, invitation) is a denied event, without the token', async () => {
    const guess = 'A'.repeat(43);
    const refusals = [
      ['/auth/password-reset/confirm', { token: guess, newPassword: PASSWORD }, 'auth.password.reset'],
      ['/auth/register/confirm', { token: guess }, 'auth.registration.confirmed'],
      ['/invitations/accept', { token: guess, displayName: 'Guesser', password: PASSWORD }, 'auth.invitation.accepted'],
    ] as const;
    for (const [url, payload, action] of refusals) {
      const response = await post(url, payload, '10.1.7.1');
      expect(response.statusCode, url).toBe(400);
      const events = await readAudit(t, { requestId: requestIdOf(response) });
      expect(events, url).toMatchObject([{ action, outcome: 'denied', actorType: 'anonymous', statusCode: 400, detail: { reason: 'invalid-token' } }]);
      expect(JSON.stringify(events)).not.toContain(guess);
    }
  });
});

describe('API keys', () => {
  it('[ASVS 16.3.1] a refused API key is recorded by its lookup prefix, never by its secret', async () => {
    const unknownKey = `vutf_AAAAAAAAAAAA${'B'.repeat(43)}`;
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: '10.1.6.1', headers: { 'x-api-key': unknownKey } });
    expect(response.statusCode).toBe(401);
    const [rejected] = await readAudit(t, { action: 'auth.api-key.rejected', requestId: requestIdOf(response) });
    expect(rejected).toMatchObject({ actorType: 'anonymous', resourceId: 'AAAAAAAAAAAA', outcome: 'denied', clientIp: '10.1.6.1', detail: { reason: 'unknown-or-revoked' } });
    expect(JSON.stringify(rejected)).not.toContain('B'.repeat(43));
    // The request itself is a denied one as well.
    expect(await readAudit(t, { action: 'access.denied', requestId: requestIdOf(response) })).toHaveLength(1);
  });
});

describe('what the rows hold', () => {
  it('[ASVS 16.2.5] keeps no email, password or client address in clear in any event row', async () => {
    const rows = await t.container.db.selectFrom('auditEvents').selectAll().execute();
    expect(rows.length).toBeGreaterThan(10);
    for (const row of rows) {
      const bytes = Buffer.concat(Object.values(row).map((value: unknown) => (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value) ?? ''))));
      for (const secret of ['10.1.', 'example.test', 'lock-me', 'root@', PASSWORD, BOOTSTRAP_ADMIN.password, 'audit-probe']) {
        expect(bytes.includes(Buffer.from(secret)), `${row.action} holds ${secret}`).toBe(false);
      }
    }
  });
});
