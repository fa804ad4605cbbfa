import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMISED_DISPLAY_NAME, anonymisedEmail } from '../../src/modules/users/user-anonymisation.service.js';
import { createManualClock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';
import { emailIndexOf, readAudit } from '../setup/audit-trail.js';
import { addMember, bearer, createOrg, createUserWithPassword, json, login } from '../setup/identity-factory.js';
import { readOutbox, tokenFromMail } from '../setup/mail-outbox.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Retention of soft-deleted users (issue 9 §4, ADR 0013), on the embedded default and on PostgreSQL +
 * Redis: a user deleted longer ago than `softDeletedDays` is anonymised (the row stays, its email and
 * name become sealed placeholders, the old address finds nothing and can be used again, password and
 * MFA factors go), once; a more recent deletion and a member of a held organisation are untouched.
 */

const DAY = 86_400_000;
const PASSWORD = 'a user retention test passphrase 4471';
const clock = createManualClock(new Date('2026-01-01T00:00:00Z'));
const T0 = clock.now();
let t: TestApp;
let orgId: string;
let heldOrg: string;

const db = () => t.container.db;
const countOf = async (table: string, where = sql`true`) =>
  (await sql<{ count: number }>`select count(*)::int as count from ${sql.table(table)} where ${where}`.execute(db())).rows[0]!.count;

let tokenAt = -1;
let rootToken = '';
async function asRoot(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, headers: Record<string, string> = {}) {
  if (tokenAt !== clock.nowMs()) {
    rootToken = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
    tokenAt = clock.nowMs();
  }
  return t.app.inject({ method, url, headers: { ...bearer(rootToken), ...headers, ...(payload ? json : {}) }, ...(payload ? { payload } : {}) });
}

const preview = async () => {
  const response = await asRoot('GET', '/api/v1/admin/retention/preview');
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ counts: Record<string, number> }>().counts;
};
const runNow = async () => {
  const response = await asRoot('POST', '/api/v1/admin/retention/runs');
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string; counts: Record<string, number> }>();
};

/** Deletes the account through the admin API (soft delete with its memberships, sessions revoked). */
async function deleteUser(userId: string) {
  const response = await asRoot('DELETE', `/api/v1/users/${userId}`, undefined, { 'if-match': '"v1"' });
  expect(response.statusCode, response.body).toBe(204);
}

/** A TOTP secret, backup codes, a passkey and a password-reset token, written as their modules write them. */
async function giveCredentials(userId: string, email: string) {
  const now = clock.now();
  await sql`insert into mfa_totp (id, user_id, secret, confirmed_at, created_at, updated_at) values (${newId()}, ${userId}, ${randomBytes(40)}, ${now}, ${now}, ${now})`.execute(db());
  for (let i = 0; i < 3; i += 1) {
    await sql`insert into mfa_backup_codes (id, user_id, code_hash, created_at) values (${newId()}, ${userId}, ${randomBytes(32)}, ${now})`.execute(db());
  }
  await sql`insert into passkeys (id, user_id, credential_id, public_key, aaguid, name, created_at)
    values (${newId()}, ${userId}, ${randomBytes(16).toString('base64url')}, ${randomBytes(77)}, '00000000-0000-0000-0000-000000000000', 'laptop', ${now})`.execute(db());
  await sql`insert into email_tokens (id, purpose, token_hash, email, email_index, user_id, created_at, expires_at)
    values (${newId()}, 'password-reset', ${randomBytes(32)}, ${randomBytes(40)}, ${emailIndexOf(t, email)}, ${userId}, ${now}, ${new Date(now.getTime() + 3650 * DAY)})`.execute(db());
}

const rawUser = (id: string) =>
  db().selectFrom('users').select(['email', 'displayName', 'emailIndex', 'passwordHash', 'anonymisedAt', 'deletedAt']).where('id', '=', id).executeTakeFirstOrThrow();
const openColumn = (id: string, column: 'email' | 'displayName', value: Buffer) => t.container.cipher.decrypt(value, { table: 'users', column, rowId: id }).toString('utf8');
const credentialRows = async (userId: string) => {
  const counts = await Promise.all(
    ['mfa_totp', 'mfa_backup_codes', 'passkeys', 'email_tokens', 'refresh_token_families'].map((table) => countOf(table, sql`user_id = ${userId}`)),
  );
  return counts.reduce((sum, n) => sum + n, 0);
};

beforeAll(async () => {
  t = await createTestApp({ overrides: { clock, runJobs: false } });
  // The clock jumps weeks: MFA enrollment grace is not what this file tests.
  await sql`update organisations set mfa_requirement = 'optional'`.execute(db());
  const ownerId = await createUserWithPassword(t, 'users-retention-owner@example.test', PASSWORD);
  orgId = await createOrg(t, 'users-retention-org', [ownerId]);
  heldOrg = await createOrg(t, 'users-retention-held', [ownerId]);
  await sql`update organisations set mfa_requirement = 'optional'`.execute(db());
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('[ASVS 14.2.7] soft-deleted users are anonymised once past softDeletedDays, unless held', () => {
  it('31 days after deletion the row keeps its id but not its email, name, password or factors; 29 days and held members are untouched', async () => {
    const goneEmail = 'Gone.Person@example.test';
    const gone = await createUserWithPassword(t, goneEmail, PASSWORD, { displayName: 'Gone Person' });
    const recent = await createUserWithPassword(t, 'recent-deleted@example.test', PASSWORD, { displayName: 'Recent Person' });
    const held = await createUserWithPassword(t, 'held-member@example.test', PASSWORD, { displayName: 'Held Person' });
    await addMember(t, orgId, gone, 'viewer');
    await addMember(t, orgId, recent, 'viewer');
    await addMember(t, heldOrg, held, 'viewer');
    // A session first (once TOTP is confirmed, a password alone no longer opens one).
    await login(t, goneEmail, PASSWORD);
    await giveCredentials(gone, goneEmail);
    await giveCredentials(held, 'held-member@example.test');
    expect(await credentialRows(gone)).toBe(7);

    const hold = await asRoot('POST', '/api/v1/admin/legal-holds', { orgId: heldOrg, reason: 'Matter 2026-31' });
    expect(hold.statusCode, hold.body).toBe(201);
    await deleteUser(gone);
    await deleteUser(held);
    clock.set(new Date(T0.getTime() + 2 * DAY));
    await deleteUser(recent);
    const before = { gone: await rawUser(gone), recent: await rawUser(recent), held: await rawUser(held) };
    expect(before.gone.deletedAt).toEqual(T0);

    clock.set(new Date(T0.getTime() + 31 * DAY));
    const expected = await preview();
    expect(expected.anonymisedUsers).toBe(1);
    expect(await countOf('users', sql`anonymised_at is not null`)).toBe(0);
    const run = await runNow();
    expect(run.counts).toEqual(expected);

    // The row stays (audit events, memberships name it), but opens only to the placeholders.
    const after = await rawUser(gone);
    expect(after.deletedAt).toEqual(T0);
    expect(after.anonymisedAt).toEqual(clock.now());
    expect(after.passwordHash).toBeNull();
    expect(after.email.equals(before.gone.email)).toBe(false);
    expect(openColumn(gone, 'email', after.email)).toBe(anonymisedEmail(gone));
    expect(openColumn(gone, 'displayName', after.displayName)).toBe(ANONYMISED_DISPLAY_NAME);
    expect(after.emailIndex.equals(emailIndexOf(t, anonymisedEmail(gone)))).toBe(true);
    // No row, deleted or not, answers to the old address any more.
    expect(await countOf('users', sql`email_index = ${emailIndexOf(t, goneEmail)}`)).toBe(0);
    expect(await t.container.repos.users.findByEmail(db(), goneEmail)).toBeUndefined();
    expect(await credentialRows(gone)).toBe(0);
    expect(await countOf('mfa_totp', sql`user_id = ${gone}`)).toBe(0);
    expect(await countOf('passkeys', sql`user_id = ${gone}`)).toBe(0);

    // 29 days after deletion, and a held organisation's member: byte for byte as before.
    for (const [id, row] of [[recent, before.recent], [held, before.held]] as const) {
      const now = await rawUser(id);
      expect(now.email.equals(row.email) && now.displayName.equals(row.displayName) && now.emailIndex.equals(row.emailIndex)).toBe(true);
      expect(now.passwordHash).toBe(row.passwordHash);
      expect(now.anonymisedAt).toBeNull();
    }
    expect(await credentialRows(held)).toBe(6);

    // Audited with its count, like every class.
    const [event] = await readAudit(t, { action: 'retention.run.completed', resourceId: run.id });
    expect(event!.detail).toMatchObject({ anonymisedUsers: 1, outcome: 'completed' });

    // Once: a second run (preview and run) anonymises nobody.
    expect((await preview()).anonymisedUsers).toBe(0);
    expect((await runNow()).counts.anonymisedUsers).toBe(0);
    expect((await rawUser(gone)).anonymisedAt).toEqual(after.anonymisedAt);

    // The old address can be invited again and becomes a new account.
    const owner = (await login(t, 'users-retention-owner@example.test', PASSWORD)).accessToken;
    const invited = await t.app.inject({
      method: 'POST',
      url: `/api/v1/orgs/${orgId}/invitations`,
      headers: { ...bearer(owner, { 'x-organization-id': orgId }), ...json },
      payload: { email: goneEmail, role: 'viewer' },
    });
    expect(invited.statusCode, invited.body).toBe(201);
    const [mail] = await readOutbox(t, goneEmail);
    const accepted = await t.app.inject({
      method: 'POST',
      url: '/api/v1/invitations/accept',
      headers: json,
      payload: { token: tokenFromMail(mail!.body), displayName: 'Gone Again', password: PASSWORD },
    });
    expect(accepted.statusCode, accepted.body).toBe(201);
    const reborn = accepted.json<{ userId: string }>().userId;
    expect(reborn).not.toBe(gone);
    expect((await t.container.repos.users.findByEmail(db(), goneEmail))?.id).toBe(reborn);
    await login(t, goneEmail, PASSWORD);

    // Released, the held member is anonymised by the next run; two days later, the recent one.
    expect((await asRoot('DELETE', `/api/v1/admin/legal-holds/${hold.json<{ id: string }>().id}`)).statusCode).toBe(200);
    expect((await preview()).anonymisedUsers).toBe(1);
    expect((await runNow()).counts.anonymisedUsers).toBe(1);
    expect(openColumn(held, 'email', (await rawUser(held)).email)).toBe(anonymisedEmail(held));
    expect(await credentialRows(held)).toBe(0);
    expect((await rawUser(recent)).anonymisedAt).toBeNull();
    clock.set(new Date(T0.getTime() + 33 * DAY));
    const last = await preview();
    expect(last.anonymisedUsers).toBe(1);
    expect((await runNow()).counts).toEqual(last);
    expect(openColumn(recent, 'displayName', (await rawUser(recent)).displayName)).toBe(ANONYMISED_DISPLAY_NAME);
  }, 120_000);
});
