import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, bearer, createUserWithPassword, login, orgIdBySlug } from '../setup/identity-factory.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { STEP_MS, challenge, claimsOf, codeOf, enrollTotp, oathCode, post, stepAlignedClock, verify, type ManualClock } from './mfa-support.js';

/**
 * Backup codes (issue 8 §2) and the mfaToken's rules (§4): single use, 5-minute life, bound to its
 * user. Through app.inject; embedded PGlite, or PostgreSQL + Redis when set.
 */

let t: TestApp;
let clock: ManualClock;
let orgId: string;
const PASSWORD = 'another long passphrase for backup codes 38';

beforeAll(async () => {
  clock = stepAlignedClock();
  t = await createTestApp({ overrides: { clock } });
  orgId = await orgIdBySlug(t, 'default');
}, 120_000);

afterAll(async () => {
  await t?.close();
});

async function enrolledUser(email: string) {
  const id = await createUserWithPassword(t, email, PASSWORD);
  await addMember(t, orgId, id, 'viewer');
  const tokens = await login(t, email, PASSWORD);
  return { id, email, ...(await enrollTotp(t, clock, tokens.accessToken)) };
}

const status = async (accessToken: string) => {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/auth/mfa', headers: bearer(accessToken) });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ backupCodesRemaining: number; methods: string[]; enrolled: boolean }>();
};

describe('backup codes', () => {
  it('[ASVS 6.5.4] [ASVS 6.5.3] 10 distinct codes of 12 base32 characters (60 bits) in groups, stored only as keyed hashes', async () => {
    const user = await enrolledUser('codes@example.test');
    expect(user.backupCodes).toHaveLength(10);
    expect(new Set(user.backupCodes).size).toBe(10);
    for (const code of user.backupCodes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    const rows = await sql<{ codeHash: Uint8Array }>`select code_hash from mfa_backup_codes where user_id = ${user.id}`.execute(t.container.db);
    expect(rows.rows).toHaveLength(10);
    for (const row of rows.rows) {
      const stored = Buffer.from(row.codeHash);
      expect(stored.length).toBe(32);
      for (const code of user.backupCodes) expect(stored.includes(Buffer.from(code.replace(/-/g, '')))).toBe(false);
    }
  });

  it('[ASVS 6.5.1] a backup code signs in once (any case, spaces or hyphens); its second use fails; the count left drops', async () => {
    const user = await enrolledUser('once@example.test');
    const code = user.backupCodes[0]!;
    const first = await verify(t, (await challenge(t, user.email, PASSWORD)).mfaToken, 'backup-code', ` ${code.toLowerCase().replace(/-/g, ' ')} `);
    expect(first.statusCode, first.body).toBe(200);
    const accessToken = first.json<{ accessToken: string }>().accessToken;
    expect(claimsOf(accessToken).amr).toEqual(['pwd', 'otp', 'mfa']);
    const second = await verify(t, (await challenge(t, user.email, PASSWORD)).mfaToken, 'backup-code', code);
    expect(second.statusCode).toBe(401);
    expect(codeOf(second)).toBe('invalid_mfa');
    expect((await status(accessToken)).backupCodesRemaining).toBe(9);
  });

  it('[ASVS 6.5.1] concurrent uses of one backup code: exactly one succeeds', async () => {
    const user = await enrolledUser('race@example.test');
    const tokens = await Promise.all([1, 2, 3, 4].map(() => challenge(t, user.email, PASSWORD)));
    const results = await Promise.all(tokens.map((c) => verify(t, c.mfaToken, 'backup-code', user.backupCodes[1]!)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
  });

  it('[ASVS 6.5.6] regenerating (a step-up action) invalidates the whole old set and shows 10 new codes once', async () => {
    const user = await enrolledUser('regen@example.test');
    const signIn = await verify(t, (await challenge(t, user.email, PASSWORD)).mfaToken, 'totp', oathCode(user.secret, clock.nowMs()));
    clock.advance(STEP_MS);
    const accessToken = signIn.json<{ accessToken: string }>().accessToken;
    const regenerated = await post(t, '/api/v1/auth/mfa/backup-codes', {}, bearer(accessToken));
    expect(regenerated.statusCode, regenerated.body).toBe(200);
    const fresh = regenerated.json<{ backupCodes: string[] }>().backupCodes;
    expect(fresh).toHaveLength(10);
    expect(fresh.some((code) => user.backupCodes.includes(code))).toBe(false);
    const old = await verify(t, (await challenge(t, user.email, PASSWORD)).mfaToken, 'backup-code', user.backupCodes[2]!);
    expect(old.statusCode).toBe(401);
    const ok = await verify(t, (await challenge(t, user.email, PASSWORD)).mfaToken, 'backup-code', fresh[0]!);
    expect(ok.statusCode).toBe(200);
    expect((await status(ok.json<{ accessToken: string }>().accessToken)).backupCodesRemaining).toBe(9);
  });
});

describe('the mfaToken', () => {
  it('[ASVS 6.6.2] is single use: after a success, the same token with another valid code fails', async () => {
    const user = await enrolledUser('reuse@example.test');
    const { mfaToken } = await challenge(t, user.email, PASSWORD);
    expect((await verify(t, mfaToken, 'totp', oathCode(user.secret, clock.nowMs()))).statusCode).toBe(200);
    clock.advance(STEP_MS);
    const again = await verify(t, mfaToken, 'totp', oathCode(user.secret, clock.nowMs()));
    expect(again.statusCode).toBe(401);
    expect(codeOf(again)).toBe('invalid_mfa');
    expect((await verify(t, mfaToken, 'backup-code', user.backupCodes[0]!)).statusCode).toBe(401);
  });

  it('[ASVS 6.5.5] expires after 5 minutes (injectable clock): a valid code is then refused', async () => {
    const user = await enrolledUser('expiry@example.test');
    const { mfaToken } = await challenge(t, user.email, PASSWORD);
    clock.advance(5 * 60_000 + 1000);
    const late = await verify(t, mfaToken, 'totp', oathCode(user.secret, clock.nowMs()));
    expect(late.statusCode).toBe(401);
    expect(codeOf(late)).toBe('invalid_mfa');
    clock.advance(STEP_MS);
  });

  it("[ASVS 6.6.2] is bound to its user: another user's valid code or backup code does not complete it, and is not used up", async () => {
    const alice = await enrolledUser('alice@example.test');
    const bob = await enrolledUser('bob@example.test');
    const { mfaToken } = await challenge(t, alice.email, PASSWORD);
    const bobsCode = oathCode(bob.secret, clock.nowMs());
    expect((await verify(t, mfaToken, 'totp', bobsCode)).statusCode).toBe(401);
    expect((await verify(t, mfaToken, 'backup-code', bob.backupCodes[0]!)).statusCode).toBe(401);
    // Bob's code and backup code still work for Bob.
    expect((await verify(t, (await challenge(t, bob.email, PASSWORD)).mfaToken, 'totp', bobsCode)).statusCode).toBe(200);
    expect((await verify(t, (await challenge(t, bob.email, PASSWORD)).mfaToken, 'backup-code', bob.backupCodes[0]!)).statusCode).toBe(200);
    clock.advance(STEP_MS);
  });

  it('[ASVS 6.3.8] an unknown, malformed or made-up token and an unknown method get the same 401 answer', async () => {
    const user = await enrolledUser('shape@example.test');
    const { mfaToken } = await challenge(t, user.email, PASSWORD);
    const answers = await Promise.all([
      verify(t, `vutf_mfa_${'A'.repeat(43)}`, 'totp', '123456'),
      verify(t, 'nonsense', 'totp', '123456'),
      verify(t, mfaToken, 'sms', '123456'),
    ]);
    for (const answer of answers) {
      expect(answer.statusCode).toBe(401);
      expect(answer.json<{ code: string; detail: string }>()).toMatchObject({ code: 'invalid_mfa', detail: answers[0]!.json<{ detail: string }>().detail });
    }
  });
});
