import { EMAIL_INDEX_PURPOSE } from '../../src/modules/users/users.repo.js';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { normaliseEmail } from '../../src/platform/crypto/index.js';
import { createLockoutService, type LockoutPolicy } from '../../src/modules/auth/lockout.service.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Account lockout on the real database (embedded PGlite by default, PostgreSQL 15 when DATABASE_URL is
 * set): the single-statement upsert, its concurrency and what lands in `login_attempts`.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let t: TestApp;
let seq = 0;
const clock = createManualClock(new Date('2026-11-28T12:00:00Z'));
let policy: LockoutPolicy = { maxFailures: 5, windowMinutes: 15, lockMinutes: 30 };

beforeAll(async () => {
  t = await createTestApp();
}, 60_000);
afterAll(async () => {
  await t?.close();
});
beforeEach(() => {
  policy = { maxFailures: 5, windowMinutes: 15, lockMinutes: 30 };
});

const service = () => createLockoutService({ db: t.container.db, clock, policy: () => policy });
/** A fresh email per test, so tests share the database without sharing counters. */
const freshEmail = () => `Lockout.User${++seq}@Example.test`;
const indexOf = (email: string) => t.container.blindIndex.compute(normaliseEmail(email), EMAIL_INDEX_PURPOSE);
const fail = (index: Buffer) => t.container.db.transaction().execute((tx) => service().recordFailure(tx, index));
const succeed = (index: Buffer) => t.container.db.transaction().execute((tx) => service().recordSuccess(tx, index));
const status = (index: Buffer) => service().status(undefined, index);
const failTimes = async (index: Buffer, times: number) => {
  let last;
  for (let i = 0; i < times; i++) last = await fail(index);
  return last!;
};
const rowOf = (index: Buffer) => t.container.db.selectFrom('loginAttempts').selectAll().where('emailIndex', '=', index).executeTakeFirst();

describe('account lockout on the database', () => {
  it('V6.3.1 locks exactly at the Nth consecutive failure, for lockMinutes', async () => {
    const index = indexOf(freshEmail());
    for (let i = 1; i < 5; i++) {
      const outcome = await fail(index);
      expect(outcome).toMatchObject({ locked: false, lockedUntil: null, failures: i });
    }
    expect((await status(index)).locked).toBe(false);
    const fifth = await fail(index);
    expect(fifth.locked).toBe(true);
    expect(fifth.failures).toBe(5);
    expect(fifth.lockedUntil!.getTime()).toBe(clock.nowMs() + 30 * MINUTE);
    expect(await status(index)).toMatchObject({ locked: true, lockedUntil: fifth.lockedUntil });
  });

  it('V6.3.1 failures while locked neither count nor extend the lock', async () => {
    const index = indexOf(freshEmail());
    const locked = await failTimes(index, 5);
    clock.advance(MINUTE);
    const again = await fail(index);
    expect(again).toMatchObject({ locked: true, lockedUntil: locked.lockedUntil, failures: 5 });
  });

  it('V6.3.1 the lock expires after its period and counting restarts at 1', async () => {
    const index = indexOf(freshEmail());
    await failTimes(index, 5);
    clock.advance(30 * MINUTE - 1);
    expect((await status(index)).locked).toBe(true);
    clock.advance(1);
    expect(await status(index)).toMatchObject({ locked: false, lockedUntil: null });
    expect(await fail(index)).toMatchObject({ locked: false, lockedUntil: null, failures: 1 });
  });

  it('V6.3.1 failures outside the window start a new count', async () => {
    const index = indexOf(freshEmail());
    await failTimes(index, 4);
    clock.advance(15 * MINUTE);
    expect((await fail(index)).failures).toBe(1);
    expect((await failTimes(index, 3)).failures).toBe(4);
    expect((await fail(index)).locked).toBe(true);
  });

  it('V6.3.1 V6.1.1 a repeated lock lasts longer (doubling) and is capped at 24 h', async () => {
    const index = indexOf(freshEmail());
    const periods: number[] = [];
    for (let lock = 0; lock < 8; lock++) {
      const outcome = await failTimes(index, 5);
      expect(outcome.locked).toBe(true);
      periods.push((outcome.lockedUntil!.getTime() - clock.nowMs()) / MINUTE);
      clock.set(outcome.lockedUntil!);
    }
    expect(periods).toEqual([30, 60, 120, 240, 480, 960, 1440, 1440]);
    expect((await rowOf(index))!.lockCount).toBe(8);
  });

  it('V6.1.1 lock history is forgotten after 24 h quiet, not by a success', async () => {
    const index = indexOf(freshEmail());
    let outcome = await failTimes(index, 5);
    clock.set(outcome.lockedUntil!);
    await succeed(index);
    outcome = await failTimes(index, 5);
    expect(outcome.lockedUntil!.getTime() - clock.nowMs()).toBe(60 * MINUTE);
    clock.set(new Date(outcome.lockedUntil!.getTime() + 24 * HOUR));
    outcome = await failTimes(index, 5);
    expect(outcome.lockedUntil!.getTime() - clock.nowMs()).toBe(30 * MINUTE);
  });

  it('V6.3.1 a success resets the consecutive count but does not lift a lock', async () => {
    const index = indexOf(freshEmail());
    await failTimes(index, 4);
    await succeed(index);
    expect((await rowOf(index))!.failures).toBe(0);
    expect(await fail(index)).toMatchObject({ locked: false, lockedUntil: null, failures: 1 });
    const locked = await failTimes(index, 4);
    expect(locked.locked).toBe(true);
    await succeed(index);
    expect((await status(index)).locked).toBe(true);
  });

  it('V6.3.1 unlock lifts the lock and keeps the growth history', async () => {
    const index = indexOf(freshEmail());
    await failTimes(index, 5);
    const unlocked = await t.container.db.transaction().execute((tx) => service().unlock(tx, index));
    expect(unlocked).toBe(true);
    expect(await status(index)).toMatchObject({ locked: false, lockedUntil: null });
    const relocked = await failTimes(index, 5);
    expect(relocked.lockedUntil!.getTime() - clock.nowMs()).toBe(60 * MINUTE);
    expect(await t.container.db.transaction().execute((tx) => service().unlock(tx, indexOf(freshEmail())))).toBe(false);
  });

  it('V6.3.1 a lock on one email does not affect another', async () => {
    const victim = indexOf(freshEmail());
    const other = indexOf(freshEmail());
    await failTimes(victim, 5);
    expect((await status(victim)).locked).toBe(true);
    expect(await status(other)).toMatchObject({ locked: false, lockedUntil: null });
    expect((await fail(other)).failures).toBe(1);
  });

  it('V6.3.1 the email is normalised before indexing: case variants share one counter', async () => {
    const email = freshEmail();
    await failTimes(indexOf(email), 4);
    expect((await fail(indexOf(email.toLowerCase()))).locked).toBe(true);
  });

  it('V6.3.1 ten concurrent failures count ten (single atomic upsert)', async () => {
    policy = { maxFailures: 100, windowMinutes: 15, lockMinutes: 30 };
    const index = indexOf(freshEmail());
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => fail(index)));
    expect(outcomes.map((o) => o.failures).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await rowOf(index))!.failures).toBe(10);
  });

  it('V6.3.1 concurrent failures across the limit lock exactly once', async () => {
    const index = indexOf(freshEmail());
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => fail(index)));
    expect(outcomes.filter((o) => o.locked)).toHaveLength(6);
    expect(new Set(outcomes.filter((o) => o.locked).map((o) => o.lockedUntil!.getTime())).size).toBe(1);
    expect((await rowOf(index))!.lockCount).toBe(1);
  });

  it('V6.3.8 an unknown email gets exactly the same writes as a registered one', async () => {
    const known = freshEmail();
    const unknown = freshEmail();
    await t.container.db.transaction().execute((tx) =>
      t.container.repos.users.insert(tx, '019a0000-0000-7000-8000-00000000a001', { email: known, displayName: 'Known', passwordHash: null, platformRole: null, mustChangePassword: false }, null, clock.now()),
    );
    const results = [];
    for (const email of [known, unknown]) {
      const index = indexOf(email);
      const outcomes = [];
      for (let i = 0; i < 6; i++) outcomes.push(await fail(index));
      const { emailIndex, ...row } = (await rowOf(index))!;
      expect(emailIndex.equals(index)).toBe(true);
      results.push({ outcomes, row });
    }
    expect(results[1]).toEqual(results[0]);
  });

  it('V6.3.8 no plaintext email in login_attempts (raw bytes of every column)', async () => {
    const email = freshEmail();
    await failTimes(indexOf(email), 5);
    const rows = await sql<Record<string, unknown>>`select * from login_attempts`.execute(t.container.db);
    const columns = await sql<{ columnName: string }>`select column_name from information_schema.columns where table_name = 'login_attempts' and table_schema = current_schema()`.execute(t.container.db);
    expect(columns.rows.map((c) => c.columnName).sort()).toEqual(
      ['created_at', 'email_index', 'failures', 'last_failure_at', 'lock_count', 'locked_until', 'updated_at', 'window_started_at'].sort(),
    );
    const needles = [email, normaliseEmail(email), email.split('@')[0]!.toLowerCase(), 'example.test'].map((s) => Buffer.from(s, 'utf8'));
    for (const row of rows.rows) {
      for (const value of Object.values(row)) {
        const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value instanceof Date ? value.toISOString() : String(value), 'utf8');
        for (const needle of needles) expect(bytes.includes(needle)).toBe(false);
        for (const needle of needles) expect(bytes.toString('latin1').toLowerCase().includes(needle.toString('latin1').toLowerCase())).toBe(false);
      }
      expect((row.emailIndex as Buffer).length).toBe(32);
    }
  });
});
