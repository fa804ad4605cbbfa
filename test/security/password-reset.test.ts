import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { normaliseEmail } from '../../src/platform/crypto/index.js';
import { EMAIL_INDEX_PURPOSE } from '../../src/modules/users/users.repo.js';
import { RECIPIENT_INDEX_PURPOSE } from '../../src/modules/mail/mail.repo.js';
import { readAllOutbox, readOutbox, tokenFromMail } from '../setup/mail-outbox.js';
import { readAudit } from '../setup/audit-trail.js';
import { createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';

/**
 * Forgotten-password reset through app.inject on the built app: request (one answer whether or not
 * the address has an account, per-address budget), token from the outbox, confirm (single use,
 * expiry, password policy, sessions ended, lockout lifted) and the auth events it leaves.
 * Runs on embedded PGlite, and on PostgreSQL + Redis when DATABASE_URL/REDIS_URL are set.
 */

type Response = Awaited<ReturnType<TestApp['app']['inject']>>;
interface Tokens {
  accessToken: string;
  refreshToken: string;
}

const MAX_FAILURES = 3;
const PER_EMAIL_PER_HOUR = 3;
const OLD_PASSWORD = 'lantern quarry velvet 1187';
const NEW_PASSWORD = 'orchid tangent marble 5521';
const json = { 'content-type': 'application/json' };

const policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-reset-policy-'));
let t: TestApp;
let seq = 0;
const freshEmail = (label: string) => `${label}.${++seq}@example.test`;
const freshIp = () => `198.51.100.${(++seq % 250) + 1}`;

beforeAll(async () => {
  const policyFile = path.join(policyDir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `lockout:\n  maxFailures: ${MAX_FAILURES}\naccounts:\n  mailPerRecipientPerHour: ${PER_EMAIL_PER_HOUR}\nrateLimits:\n  authentication:\n    limit: 1000\n    windowSeconds: 60\n`,
  );
  // No background jobs: the shape test counts every transaction, and a periodic job's would be counted too.
  t = await createTestApp({ env: { POLICY_FILE: policyFile }, overrides: { runJobs: false } });
}, 120_000);

afterAll(async () => {
  await t?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const login = (email: string, password: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: freshIp(), headers: json, payload: { email, password } });
const requestReset = (email: string, ip = freshIp()) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', remoteAddress: ip, headers: json, payload: { email } });
const confirm = (token: string, newPassword: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', remoteAddress: freshIp(), headers: json, payload: { token, newPassword } });

const expectProblem = (response: Response, status: number, code: string) => {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json<{ code: string }>().code).toBe(code);
};

async function createPasswordUser(email: string, password = OLD_PASSWORD): Promise<string> {
  const id = await createTestUser(t, email);
  const passwordHash = await t.container.passwordHasher.hash(password);
  await t.container.db.updateTable('users').set({ passwordHash }).where('id', '=', id).execute();
  return id;
}

/** Asks for a reset and returns the token from the newest mail to `email`. */
async function resetToken(email: string): Promise<string> {
  expect((await requestReset(email)).statusCode).toBe(202);
  const [mail] = await readOutbox(t, email);
  expect(mail?.template).toBe('password-reset');
  return tokenFromMail(mail!.body);
}

const emailIndexOf = (email: string) => t.container.blindIndex.compute(normaliseEmail(email), EMAIL_INDEX_PURPOSE);
const countTokens = async () => Number((await sql<{ n: string }>`select count(*) as n from email_tokens where purpose = 'password-reset'`.execute(t.container.db)).rows[0]!.n);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('the full reset flow', () => {
  it('[ASVS 6.4.3] [ASVS 7.4.3] request → token from the outbox → confirm: the old password, access token and refresh token die at once; the new password works', async () => {
    const email = freshEmail('flow');
    const userId = await createPasswordUser(email);
    const before = await login(email, OLD_PASSWORD);
    expect(before.statusCode).toBe(200);
    const old = before.json<Tokens>();

    const accepted = await requestReset(email);
    expect(accepted.statusCode).toBe(202);
    expect(accepted.json()).toEqual({ status: 'accepted' });
    const [mail] = await readOutbox(t, email);
    expect(mail!.template).toBe('password-reset');
    const token = tokenFromMail(mail!.body);
    // The token travels in the body only, never in the subject (mail systems log subjects).
    expect(mail!.subject).not.toContain(token);

    const done = await confirm(token, NEW_PASSWORD);
    expect(done.statusCode, done.body).toBe(204);

    expectProblem(await login(email, OLD_PASSWORD), 401, 'invalid_credentials');
    expect((await login(email, NEW_PASSWORD)).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${old.accessToken}` } })).statusCode).toBe(401);
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', remoteAddress: freshIp(), headers: json, payload: { refreshToken: old.refreshToken } });
    expect(refreshed.statusCode).toBe(401);

    // [ASVS 16.3.1] the reset is an auth event of the account, stored with the request id.
    const reset = await readAudit(t, { action: 'auth.password.reset', resourceId: userId });
    expect(reset).toMatchObject([{ actorId: userId, requestId: done.headers['x-request-id'], detail: { unlocked: false } }]);
  });

  it('[ASVS 6.4.3] a token works once: a second confirm gets 400 invalid_token and changes nothing', async () => {
    const email = freshEmail('once');
    await createPasswordUser(email);
    const token = await resetToken(email);
    expect((await confirm(token, NEW_PASSWORD)).statusCode).toBe(204);
    expectProblem(await confirm(token, 'another fine passphrase 7731'), 400, 'invalid_token');
    expect((await login(email, NEW_PASSWORD)).statusCode).toBe(200);
  });

  it('[ASVS 6.4.3] two concurrent confirms with one token: exactly one succeeds, the other gets 400', async () => {
    const email = freshEmail('race');
    await createPasswordUser(email);
    const token = await resetToken(email);
    const results = await Promise.all([confirm(token, NEW_PASSWORD), confirm(token, 'another fine passphrase 7731')]);
    expect(results.map((result) => result.statusCode).sort()).toEqual([204, 400]);
    const winner = results[0]!.statusCode === 204 ? NEW_PASSWORD : 'another fine passphrase 7731';
    expect((await login(email, winner)).statusCode).toBe(200);
  });

  it('[ASVS 6.4.3] an expired token answers 400 invalid_token, the same as a malformed or unknown one', async () => {
    const email = freshEmail('expired');
    const userId = await createPasswordUser(email);
    const token = await resetToken(email);
    await sql`update email_tokens set expires_at = ${new Date(Date.now() - 60_000)} where user_id = ${userId}`.execute(t.container.db);
    const expired = await confirm(token, NEW_PASSWORD);
    expectProblem(expired, 400, 'invalid_token');
    const malformed = await confirm('not-a-token', NEW_PASSWORD);
    const unknown = await confirm('A'.repeat(43), NEW_PASSWORD);
    for (const other of [malformed, unknown]) {
      expectProblem(other, 400, 'invalid_token');
      expect(other.json<{ detail: string }>().detail).toBe(expired.json<{ detail: string }>().detail);
    }
    expect((await login(email, OLD_PASSWORD)).statusCode).toBe(200);
  });

  it('the reset mail lives 15 minutes by default (policy accounts.passwordResetTtlMinutes)', async () => {
    const email = freshEmail('ttl');
    const userId = await createPasswordUser(email);
    await resetToken(email);
    const { rows } = await sql<{ c: Date; e: Date }>`select created_at as c, expires_at as e from email_tokens where user_id = ${userId}`.execute(t.container.db);
    expect(new Date(rows[0]!.e).getTime() - new Date(rows[0]!.c).getTime()).toBe(15 * 60_000);
  });

  it('a newer request revokes the earlier token: only the newest mail works', async () => {
    const email = freshEmail('newest');
    await createPasswordUser(email);
    const first = await resetToken(email);
    const second = await resetToken(email);
    expect(second).not.toBe(first);
    expectProblem(await confirm(first, NEW_PASSWORD), 400, 'invalid_token');
    expect((await confirm(second, NEW_PASSWORD)).statusCode).toBe(204);
  });

  it('[ASVS 6.2.1] [ASVS 6.2.11] the password policy applies (422 naming the rule) and a refusal leaves the token usable', async () => {
    const email = freshEmail('policy');
    await createPasswordUser(email);
    const token = await resetToken(email);
    expectProblem(await confirm(token, 'short'), 422, 'password_too_short');
    expectProblem(await confirm(token, 'passwordpassword'), 422, 'password_too_weak');
    expectProblem(await confirm(token, `${email.split('@')[0]!}-Kx93-Vq71`), 422, 'password_contains_identity');
    expect((await confirm(token, NEW_PASSWORD)).statusCode).toBe(204);
  });

  it('[ASVS 6.3.1] confirming lifts a login lockout of the address (it proves control of the mailbox) and records the unlock', async () => {
    const email = freshEmail('locked');
    const userId = await createPasswordUser(email);
    for (let i = 0; i < MAX_FAILURES; i++) expectProblem(await login(email, 'wrong password entirely'), 401, 'invalid_credentials');
    expectProblem(await login(email, OLD_PASSWORD), 401, 'invalid_credentials');
    expect((await lockStatus(email)).locked).toBe(true);

    const token = await resetToken(email);
    expect((await confirm(token, NEW_PASSWORD)).statusCode).toBe(204);
    expect((await login(email, NEW_PASSWORD)).statusCode).toBe(200);
    expect((await readAudit(t, { action: 'auth.password.reset', resourceId: userId }))[0]?.detail).toEqual({ unlocked: true });
    expect((await readAudit(t, { action: 'auth.account.unlocked', resourceId: userId }))[0]?.detail).toEqual({ via: 'password-reset' });
  });
});

async function lockStatus(email: string) {
  const { rows } = await sql<{ lockedUntil: Date | null }>`select locked_until as "lockedUntil" from login_attempts where email_index = ${emailIndexOf(email)}`.execute(t.container.db);
  const until = rows[0]?.lockedUntil;
  return { locked: until != null && new Date(until).getTime() > Date.now() };
}

describe('[ASVS 6.3.8] one answer whether or not the address has an account', () => {
  const comparable = (response: Response) => {
    const { 'x-request-id': _id, date: _date, 'ratelimit-remaining': _remaining, 'ratelimit-reset': _reset, ...headers } = response.headers;
    return { status: response.statusCode, body: response.body, headers };
  };

  it('answers a known, an unknown and a disabled account with the same status, body and headers', async () => {
    const known = freshEmail('known');
    const disabled = freshEmail('disabled');
    await createPasswordUser(known);
    const disabledId = await createPasswordUser(disabled);
    await t.container.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', disabledId).execute();
    const ip = freshIp();
    const answers = [await requestReset(known, ip), await requestReset(freshEmail('nobody'), ip), await requestReset(disabled, ip)].map(comparable);
    expect(answers[0]).toEqual(expect.objectContaining({ status: 202, body: JSON.stringify({ status: 'accepted' }) }));
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });

  it('mails the address either way: a token to an active account, a notice without one otherwise', async () => {
    const disabled = freshEmail('disabled');
    const disabledId = await createPasswordUser(disabled);
    await t.container.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', disabledId).execute();
    const nobody = freshEmail('nobody');
    const tokensBefore = await countTokens();
    await requestReset(nobody);
    await requestReset(disabled);
    expect(await countTokens()).toBe(tokensBefore);
    for (const address of [nobody, disabled]) {
      const mails = await readOutbox(t, address);
      expect(mails.map((mail) => mail.template)).toEqual(['password-reset-unknown']);
      expect(() => tokenFromMail(mails[0]!.body)).toThrow();
    }
  });

  it('takes the same shape of work: one transaction, one revocation, one mail on both paths (spies)', async () => {
    const known = freshEmail('shape');
    await createPasswordUser(known);
    const { db, services } = t.container;
    const transaction = vi.spyOn(db, 'transaction');
    const send = vi.spyOn(services.mail, 'send');
    const revoke = vi.spyOn(services.emailTokens, 'revoke');
    const issue = vi.spyOn(services.emailTokens, 'issue');
    const find = vi.spyOn(t.container.repos.users, 'findByEmail');

    const counts = () => [transaction.mock.calls.length, send.mock.calls.length, revoke.mock.calls.length, find.mock.calls.length];
    await requestReset(known);
    const knownCounts = counts();
    const knownIssues = issue.mock.calls.length;
    vi.clearAllMocks();
    await requestReset(freshEmail('shape.nobody'));
    expect(knownCounts).toEqual([1, 1, 1, 1]);
    expect(counts()).toEqual(knownCounts);
    expect(knownIssues).toBe(1);
    expect(issue).not.toHaveBeenCalled();
  });

  it('takes comparable time for known and unknown addresses (coarse: medians within a factor of 3)', async () => {
    const rounds = 15;
    const knownEmails: string[] = [];
    for (let i = 0; i < rounds + 1; i++) {
      const email = freshEmail('timing.known');
      await createTestUser(t, email);
      knownEmails.push(email);
    }
    // Warm both paths once.
    await requestReset(knownEmails.pop()!);
    await requestReset(freshEmail('timing.nobody'));
    const knownTimes: number[] = [];
    const unknownTimes: number[] = [];
    for (let i = 0; i < rounds; i++) {
      let start = performance.now();
      expect((await requestReset(knownEmails[i]!)).statusCode).toBe(202);
      knownTimes.push(performance.now() - start);
      start = performance.now();
      expect((await requestReset(freshEmail('timing.nobody'))).statusCode).toBe(202);
      unknownTimes.push(performance.now() - start);
    }
    const ratio = median(unknownTimes) / median(knownTimes);
    // Milliseconds of database work on a shared machine: only a gross difference (a password hash,
    // a skipped transaction on one path) is a finding; the spies above prove the shape exactly.
    expect(ratio).toBeGreaterThan(1 / 3);
    expect(ratio).toBeLessThan(3);
  });
});

describe('[ASVS 2.4.1] the per-address budget (mail-bombing guard)', () => {
  it(`sends at most ${PER_EMAIL_PER_HOUR} mails an hour to one address; later requests get the same 202 and send nothing`, async () => {
    const email = freshEmail('budget');
    const userId = await createPasswordUser(email);
    const statuses: number[] = [];
    const bodies = new Set<string>();
    // A fresh client address per request: the budget follows the target address, not the caller.
    for (let i = 0; i < PER_EMAIL_PER_HOUR + 2; i++) {
      const response = await requestReset(email, freshIp());
      statuses.push(response.statusCode);
      bodies.add(response.body);
    }
    expect(statuses).toEqual(Array(PER_EMAIL_PER_HOUR + 2).fill(202));
    expect([...bodies]).toEqual([JSON.stringify({ status: 'accepted' })]);
    expect(await readOutbox(t, email)).toHaveLength(PER_EMAIL_PER_HOUR);
    const { rows } = await sql<{ n: string }>`select count(*) as n from email_tokens where user_id = ${userId}`.execute(t.container.db);
    expect(Number(rows[0]!.n)).toBe(PER_EMAIL_PER_HOUR);
  });

  it('counts unknown addresses too, and one address does not spend another one’s budget', async () => {
    const nobody = freshEmail('budget.nobody');
    for (let i = 0; i < PER_EMAIL_PER_HOUR + 1; i++) await requestReset(nobody);
    expect(await readOutbox(t, nobody)).toHaveLength(PER_EMAIL_PER_HOUR);
    const other = freshEmail('budget.other');
    await requestReset(other);
    expect(await readOutbox(t, other)).toHaveLength(1);
  });

  it('keys the budget by the blind index: the store never sees the address', async () => {
    const email = freshEmail('budget.key');
    const consume = vi.spyOn(t.container.store, 'consumeRate');
    await requestReset(email);
    const keys = consume.mock.calls.map(([key]) => key);
    const recipientIndex = t.container.blindIndex.compute(normaliseEmail(email), RECIPIENT_INDEX_PURPOSE).toString('base64url');
    expect(keys.some((key) => key.includes(recipientIndex))).toBe(true);
    for (const key of keys) expect(key).not.toContain(email.split('@')[0]);
  });
});

describe('request validation', () => {
  it('refuses a body that is not an address (422) and unknown fields (422), before any mail', async () => {
    const before = (await readAllOutbox(t)).length;
    const bad = await requestReset('not an address');
    expect(bad.statusCode).toBe(422);
    const extra = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', remoteAddress: freshIp(), headers: json, payload: { email: freshEmail('x'), admin: true } });
    expect(extra.statusCode).toBe(422);
    expect((await readAllOutbox(t)).length).toBe(before);
  });
});
