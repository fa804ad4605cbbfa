import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseEmail } from '../../src/platform/crypto/index.js';
import { EMAIL_INDEX_PURPOSE } from '../../src/modules/users/users.repo.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Every sign-in success, failure and lock is an event row (issue 3 item 4) that the audit trail will
 * chain: who (by user id for a success, by the email's blind index always), from where (the client
 * address, encrypted), which request, and nothing personal in clear.
 */

const json = { 'content-type': 'application/json' };
let t: TestApp;

const login = (email: string, password: string, ip: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: ip, headers: json, payload: { email, password } });

const emailIndexOf = (email: string) => t.container.blindIndex.compute(normaliseEmail(email), EMAIL_INDEX_PURPOSE);

const eventsFor = (email: string) => t.container.repos.authEvents.listFor(t.container.db, { emailIndexes: [emailIndexOf(email)] }, 100);

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t?.close();
});

describe('auth events', () => {
  it('[ASVS 16.3.1] records a successful login with the user, the client address and the request id', async () => {
    const response = await login(BOOTSTRAP_ADMIN.email.toUpperCase(), BOOTSTRAP_ADMIN.password, '10.1.0.1');
    expect(response.statusCode, response.body).toBe(200);
    const events = await eventsFor(BOOTSTRAP_ADMIN.email);
    const success = events.filter((event) => event.type === 'auth.login.succeeded');
    expect(success).toHaveLength(1);
    const admin = await t.container.repos.users.findByEmail(t.container.db, BOOTSTRAP_ADMIN.email);
    expect(success[0]).toMatchObject({ userId: admin!.id, ip: '10.1.0.1', requestId: response.headers['x-request-id'], actorId: null });
    expect(success[0]!.createdAt).toBeInstanceOf(Date);
  });

  it('[ASVS 16.3.1] records failures for known and unknown emails alike, without naming the account', async () => {
    const known = await login(BOOTSTRAP_ADMIN.email, 'not the password at all', '10.1.0.2');
    const unknown = await login('nobody@example.test', 'not the password at all', '10.1.0.2');
    expect(known.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    const knownFailures = (await eventsFor(BOOTSTRAP_ADMIN.email)).filter((event) => event.type === 'auth.login.failed');
    const unknownFailures = (await eventsFor('nobody@example.test')).filter((event) => event.type === 'auth.login.failed');
    expect(knownFailures).toHaveLength(1);
    expect(unknownFailures).toHaveLength(1);
    for (const [event, response] of [
      [knownFailures[0]!, known],
      [unknownFailures[0]!, unknown],
    ] as const) {
      // Same shape for both: no user id (that would tell which emails have accounts), a failure count.
      expect(event).toMatchObject({ userId: null, ip: '10.1.0.2', requestId: response.headers['x-request-id'], detail: { failures: 1 } });
    }
  });

  it('[ASVS 16.3.3] records the lock once, by the failure that locks, and not the failures after it', async () => {
    const email = 'lock-me@example.test';
    for (let attempt = 0; attempt < 7; attempt += 1) {
      expect((await login(email, 'wrong wrong wrong wrong', '10.1.0.3')).statusCode).toBe(401);
    }
    const events = await eventsFor(email);
    expect(events.filter((event) => event.type === 'auth.login.failed')).toHaveLength(7);
    const locks = events.filter((event) => event.type === 'auth.account.locked');
    expect(locks).toHaveLength(1);
    expect(Date.parse(String(locks[0]!.detail.until))).toBeGreaterThan(Date.now());
  });

  it('[ASVS 16.2.5] keeps no email or client address in clear in the event rows', async () => {
    const rows = await t.container.db.selectFrom('authEvents').selectAll().execute();
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const bytes = Buffer.concat([row.ip ?? Buffer.alloc(0), row.emailIndex ?? Buffer.alloc(0), Buffer.from(JSON.stringify(row.detail))]);
      for (const secret of ['10.1.0.', 'example.test', 'lock-me', 'root@']) expect(bytes.includes(Buffer.from(secret))).toBe(false);
    }
  });
});
