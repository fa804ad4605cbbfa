import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Of, matchTotp, newTotpSecret, totpCodeAt } from '../../src/modules/mfa/totp.js';
import { addMember, bearer, createUserWithPassword, login, orgIdBySlug } from '../setup/identity-factory.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { STEP_MS, challenge, claimsOf, codeOf, enrollTotp, oathCode, passwordStep, post, stepAlignedClock, verify, type ManualClock } from './mfa-support.js';

/**
 * TOTP (issue 8 §1, §4, §8) through app.inject on the built app: RFC 6238 with oathtool as the
 * oracle, enrollment (active only after a first code, seed encrypted), the two-step login with amr
 * and auth_time, replay, and 1,000 wrong codes. Embedded PGlite, or PostgreSQL + Redis when set.
 */

let t: TestApp;
let clock: ManualClock;
let orgId: string;
const PASSWORD = 'a long and unusual passphrase for totp 71';

beforeAll(async () => {
  clock = stepAlignedClock();
  t = await createTestApp({ overrides: { clock } });
  orgId = await orgIdBySlug(t, 'default');
}, 120_000);

afterAll(async () => {
  await t?.close();
});

async function newUser(email: string) {
  const id = await createUserWithPassword(t, email, PASSWORD);
  await addMember(t, orgId, id, 'red-teamer');
  return { id, email, tokens: await login(t, email, PASSWORD) };
}

describe('RFC 6238 with oathtool as the independent oracle', () => {
  const RFC_SEED = Buffer.from('12345678901234567890', 'ascii');

  it('[ASVS 6.5.8] the RFC 6238 appendix B SHA-1 vectors (6 digits) match oathtool and our generator and matcher', () => {
    const base32 = base32Of(RFC_SEED);
    for (const seconds of [59, 1_111_111_109, 1_111_111_111, 1_234_567_890, 2_000_000_000, 20_000_000_000]) {
      const oracle = oathCode(base32, seconds * 1000);
      expect(totpCodeAt(RFC_SEED, seconds * 1000)).toBe(oracle);
      expect(matchTotp(RFC_SEED, oracle, seconds * 1000)).toBe(Math.floor(seconds / 30));
    }
    expect(oathCode(base32, 59_000)).toBe('287082');
  });

  it('[ASVS 6.5.3] [ASVS 6.5.5] random 160-bit seeds: codes of the previous, current and next step match, two steps away do not', () => {
    for (let i = 0; i < 5; i += 1) {
      const seed = newTotpSecret();
      expect(seed.length).toBe(20);
      const now = 1_700_000_000_000 + i * 7_919_000;
      const step = Math.floor(now / STEP_MS);
      for (const offset of [-1, 0, 1]) expect(matchTotp(seed, oathCode(base32Of(seed), now + offset * STEP_MS), now)).toBe(step + offset);
      for (const offset of [-2, 2]) {
        const far = oathCode(base32Of(seed), now + offset * STEP_MS);
        const near = [-1, 0, 1].map((o) => oathCode(base32Of(seed), now + o * STEP_MS));
        if (!near.includes(far)) expect(matchTotp(seed, far, now)).toBeUndefined();
      }
    }
  });
});

describe('enrollment', () => {
  it('[ASVS 6.5.3] returns the otpauth URI, a PNG QR data URL and the base32 seed; not active until a first valid code', async () => {
    const user = await newUser('enroll@example.test');
    const started = await post(t, '/api/v1/auth/mfa/totp', {}, bearer(user.tokens.accessToken));
    expect(started.statusCode, started.body).toBe(201);
    const body = started.json<{ secret: string; otpauthUri: string; qrCode: string }>();
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(body.otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe(body.secret);
    expect(uri.searchParams.get('algorithm')).toBe('SHA1');
    expect(uri.searchParams.get('digits')).toBe('6');
    expect(uri.searchParams.get('period')).toBe('30');
    expect(body.qrCode).toMatch(/^data:image\/png;base64,[A-Za-z0-9+/=]{100,}$/);

    // Pending: the password alone still signs in, and a wrong code does not confirm.
    expect((await passwordStep(t, user.email, PASSWORD)).json<{ accessToken?: string }>().accessToken).toBeTypeOf('string');
    const wrong = await post(t, '/api/v1/auth/mfa/totp/confirm', { code: oathCode(body.secret, clock.nowMs() + 10 * STEP_MS) }, bearer(user.tokens.accessToken));
    expect(wrong.statusCode).toBe(422);
    const confirmed = await post(t, '/api/v1/auth/mfa/totp/confirm', { code: oathCode(body.secret, clock.nowMs()) }, bearer(user.tokens.accessToken));
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    expect(confirmed.json<{ backupCodes: string[] }>().backupCodes).toHaveLength(10);
    clock.advance(STEP_MS);
    expect((await challenge(t, user.email, PASSWORD)).methods).toEqual(['totp', 'backup-code']);
  });

  it('[ASVS 11.3.2] the seed is stored as an AES-GCM envelope bound to its row: no plaintext seed in the database', async () => {
    const user = await newUser('stored@example.test');
    const { secret } = await enrollTotp(t, clock, user.tokens.accessToken);
    const row = await sql<{ id: string; secret: Uint8Array }>`select id, secret from mfa_totp where user_id = ${user.id}`.execute(t.container.db);
    const stored = Buffer.from(row.rows[0]!.secret);
    const seed = Buffer.from(new URL(`otpauth://x?secret=${secret}`).searchParams.get('secret')!, 'ascii');
    expect(stored.includes(seed)).toBe(false);
    expect(stored.length).toBeGreaterThan(20 + 12 + 16);
    // Moved to another row, the envelope no longer opens.
    expect(() => t.container.cipher.decrypt(stored, { table: 'mfa_totp', column: 'secret', rowId: '00000000-0000-7000-8000-000000000000' })).toThrow();
  });
});

describe('the two-step login', () => {
  it('[ASVS 6.3.3] password only answers a challenge; the TOTP completes it with amr pwd+otp+mfa and auth_time at the MFA', async () => {
    const user = await newUser('twostep@example.test');
    const { secret } = await enrollTotp(t, clock, user.tokens.accessToken);
    const step1 = await passwordStep(t, user.email, PASSWORD);
    const body = step1.json<Record<string, unknown>>();
    expect(Object.keys(body).sort()).toEqual(['methods', 'mfaRequired', 'mfaToken']);
    expect(body.mfaToken).toMatch(/^vutf_mfa_[A-Za-z0-9_-]{43}$/);
    clock.advance(5_000);
    const done = await verify(t, body.mfaToken as string, 'totp', oathCode(secret, clock.nowMs()));
    expect(done.statusCode, done.body).toBe(200);
    const claims = claimsOf(done.json<{ accessToken: string }>().accessToken);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.auth_time).toBe(Math.floor(clock.nowMs() / 1000));
    // The refresh family keeps how and when.
    const refreshed = await post(t, '/api/v1/auth/refresh', { refreshToken: done.json<{ refreshToken: string }>().refreshToken });
    expect(claimsOf(refreshed.json<{ accessToken: string }>().accessToken).amr).toEqual(['pwd', 'otp', 'mfa']);
    clock.advance(STEP_MS);
  });

  it('[ASVS 6.5.1] a TOTP code is accepted once: the same code on a new challenge (replay) fails, an older one too', async () => {
    const user = await newUser('replay@example.test');
    const { secret } = await enrollTotp(t, clock, user.tokens.accessToken);
    const code = oathCode(secret, clock.nowMs());
    const first = await verify(t, (await challenge(t, user.email, PASSWORD)).mfaToken, 'totp', code);
    expect(first.statusCode).toBe(200);
    const replay = await verify(t, (await challenge(t, user.email, PASSWORD)).mfaToken, 'totp', code);
    expect(replay.statusCode).toBe(401);
    expect(codeOf(replay)).toBe('invalid_mfa');
    const older = await verify(t, (await challenge(t, user.email, PASSWORD)).mfaToken, 'totp', oathCode(secret, clock.nowMs() - STEP_MS));
    expect(older.statusCode).toBe(401);
    // Concurrent uses of one fresh code: exactly one wins.
    clock.advance(STEP_MS);
    const fresh = oathCode(secret, clock.nowMs());
    const tokens = await Promise.all([1, 2, 3].map(() => challenge(t, user.email, PASSWORD)));
    const results = await Promise.all(tokens.map((c) => verify(t, c.mfaToken, 'totp', fresh)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    clock.advance(STEP_MS);
  });

  it('[ASVS 6.3.1] 1,000 wrong codes: 0 successes, the challenge dies after 5 and the account locks (the right password is then refused)', async () => {
    const user = await newUser('brute@example.test');
    const { secret } = await enrollTotp(t, clock, user.tokens.accessToken);
    const valid = new Set([-1, 0, 1].map((o) => oathCode(secret, clock.nowMs() + o * STEP_MS)));
    let mfaToken = (await challenge(t, user.email, PASSWORD)).mfaToken;
    let successes = 0;
    let sent = 0;
    for (let guess = 0; sent < 1000; guess += 1) {
      const code = String(guess).padStart(6, '0');
      if (valid.has(code)) continue;
      sent += 1;
      const response = await verify(t, mfaToken, 'totp', code);
      if (response.statusCode === 200) successes += 1;
      else expect(response.statusCode).toBe(401);
      // An attacker holding the password asks for new challenges: the lock stops that.
      if (sent % 5 === 0) {
        const again = await passwordStep(t, user.email, PASSWORD);
        if (again.statusCode === 200) mfaToken = again.json<{ mfaToken: string }>().mfaToken;
      }
    }
    expect(successes).toBe(0);
    expect((await passwordStep(t, user.email, PASSWORD)).statusCode).toBe(401);
    const row = await sql<{ locked_until: Date | null }>`select locked_until from login_attempts where locked_until is not null`.execute(t.container.db);
    expect(row.rows.length).toBeGreaterThan(0);
  }, 120_000);

  it('[ASVS 6.6.3] at most 5 wrong answers per mfaToken: the sixth attempt fails even with the right code', async () => {
    const user = await newUser('perchallenge@example.test');
    const { secret } = await enrollTotp(t, clock, user.tokens.accessToken);
    const { mfaToken } = await challenge(t, user.email, PASSWORD);
    const right = oathCode(secret, clock.nowMs());
    const wrong = right === '000000' ? '000001' : '000000';
    for (let i = 0; i < 4; i += 1) expect((await verify(t, mfaToken, 'totp', wrong)).statusCode).toBe(401);
    // Still alive after 4 (read directly: answering with the right code now would consume it).
    const failures = await sql<{ failures: number; consumedAt: Date | null }>`select failures, consumed_at from mfa_challenges where user_id = ${user.id}`.execute(t.container.db);
    expect(failures.rows[0]).toMatchObject({ failures: 4, consumedAt: null });
    expect((await verify(t, mfaToken, 'totp', wrong)).statusCode).toBe(401);
    const dead = await sql<{ consumedAt: Date | null }>`select consumed_at from mfa_challenges where user_id = ${user.id}`.execute(t.container.db);
    expect(dead.rows[0]!.consumedAt).not.toBeNull();
    expect((await verify(t, mfaToken, 'totp', right)).statusCode).toBe(401);
  });
});
