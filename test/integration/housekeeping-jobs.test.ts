import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { normaliseEmail } from '../../src/platform/crypto/index.js';
import { newId } from '../../src/platform/ids.js';
import type { Tx } from '../../src/platform/db/transaction.js';
import { InvalidJobError, type JobContext } from '../../src/platform/queue/index.js';
import { authHousekeepingJobs, EXPIRED_EMAIL_TOKEN_RETENTION_MS } from '../../src/modules/auth/auth.jobs.js';
import { createEmailTokensRepo } from '../../src/modules/auth/email-tokens.repo.js';
import { createLockoutService } from '../../src/modules/auth/lockout.service.js';
import { createRefreshTokenService } from '../../src/modules/auth/refresh-token.service.js';
import { purgeFinishedMailJob } from '../../src/modules/mail/mail.jobs.js';
import { EMAIL_INDEX_PURPOSE } from '../../src/modules/users/users.repo.js';
import { createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';

/**
 * Hourly identity housekeeping on the real database (PGlite, or PostgreSQL 15 when DATABASE_URL is set):
 * each purge deletes exactly the rows that no longer matter and keeps the rest.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const clock = createManualClock(new Date('2026-11-28T12:00:00Z'));
let t: TestApp;
let seq = 0;

beforeAll(async () => {
  // No SMTP_URL: mail stays in the outbox. runJobs off: the tests run each job themselves.
  t = await createTestApp({ overrides: { clock, runJobs: false } });
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const context = (signal = new AbortController().signal): JobContext => ({ jobId: 'test', attempt: 1, signal });
/** Rows each email-token purge statement deleted, to see the batches. */
const emailTokenBatches: number[] = [];
const jobs = () => {
  const emailTokensRepo = createEmailTokensRepo({ cipher: t.container.cipher });
  const spiedRepo = {
    purgeExpired: async (...args: Parameters<typeof emailTokensRepo.purgeExpired>) => {
      const deleted = await emailTokensRepo.purgeExpired(...args);
      emailTokenBatches.push(deleted);
      return deleted;
    },
  };
  const list = [
    ...authHousekeepingJobs({ db: t.container.db, clock, emailTokensRepo: spiedRepo }),
    purgeFinishedMailJob({ db: t.container.db, clock, mailRepo: t.container.repos.mail }),
  ];
  const byName = (name: string) => list.find((job) => job.name === name)!;
  return { run: async (name: string, signal?: AbortSignal) => byName(name).handler({}, context(signal)) };
};
const inTx = <T>(fn: (tx: Tx) => Promise<T>) => t.container.db.transaction().execute(fn);

describe('housekeeping job registration', () => {
  it('registers every housekeeping job, and no mail relay without SMTP_URL', async () => {
    for (const name of ['platform.purge-idempotency-records', 'auth.purge-login-attempts', 'auth.purge-refresh-families', 'auth.purge-email-tokens', 'mail.purge-finished'] as const) {
      await expect(t.container.queue.enqueue(name, {}, { jobId: `registration-check-${name}` })).resolves.toBe(`registration-check-${name}`);
    }
    await expect(t.container.queue.enqueue('mail.deliver-outbox' as never, {} as never)).rejects.toBeInstanceOf(InvalidJobError);
  });
});

describe('auth.purge-login-attempts', () => {
  const policy = { maxFailures: 5, windowMinutes: 15, lockMinutes: 30 };
  const lockout = () => createLockoutService({ db: t.container.db, clock, policy: () => policy });
  const freshIndex = () => t.container.blindIndex.compute(normaliseEmail(`house.keeping${++seq}@example.test`), EMAIL_INDEX_PURPOSE);
  const failTimes = async (index: Buffer, times: number) => {
    let last;
    for (let i = 0; i < times; i++) last = await inTx((tx) => lockout().recordFailure(tx, index));
    return last!;
  };
  const rowOf = (index: Buffer) => t.container.db.selectFrom('loginAttempts').selectAll().where('emailIndex', '=', index).executeTakeFirst();

  it('deletes only counters past the quiet period with no lock in force; a kept row still lengthens the next lock', async () => {
    const started = clock.nowMs();
    // Two earlier locks (30 min, then 60 min) for `history`; a single old failure for `stale`.
    const history = freshIndex();
    const stale = freshIndex();
    const lockedNow = freshIndex();
    await failTimes(stale, 1);
    expect((await failTimes(history, 5)).lockedUntil!.getTime()).toBe(clock.nowMs() + 30 * MINUTE);
    clock.advance(31 * MINUTE);
    expect((await failTimes(history, 5)).lockedUntil!.getTime()).toBe(clock.nowMs() + 60 * MINUTE);
    const secondLockEnd = clock.nowMs() + 60 * MINUTE;

    // 23 h after the second lock ended: inside the quiet period. `stale` failed more than 24 h ago.
    clock.set(new Date(secondLockEnd + 23 * HOUR));
    expect(clock.nowMs() - started).toBeGreaterThan(DAY);
    // A lock in force with a failure long ago.
    await failTimes(lockedNow, 5);
    const recentFailure = freshIndex();
    await failTimes(recentFailure, 2);

    await jobs().run('auth.purge-login-attempts');
    expect(await rowOf(stale)).toBeUndefined();
    expect(await rowOf(history)).toMatchObject({ lockCount: 2 });
    expect(await rowOf(lockedNow)).toMatchObject({ lockCount: 1 });
    expect(await rowOf(recentFailure)).toMatchObject({ failures: 2 });

    // The kept history applies: the third lock is 2 h (30 min doubled twice), not a first 30 min lock.
    const third = await failTimes(history, 5);
    expect(third.lockedUntil!.getTime()).toBe(clock.nowMs() + 120 * MINUTE);
    // The deleted counter behaves exactly as it would have: a fresh window and a first lock.
    expect(await failTimes(stale, 4)).toMatchObject({ locked: false, failures: 4 });
    expect((await failTimes(stale, 1)).lockedUntil!.getTime()).toBe(clock.nowMs() + 30 * MINUTE);

    // More than 24 h after its last failure and lock end, the history goes too; a second run finds nothing.
    clock.advance(DAY + 3 * HOUR);
    await jobs().run('auth.purge-login-attempts');
    expect(await rowOf(history)).toBeUndefined();
    expect(await rowOf(lockedNow)).toBeUndefined();
    await expect(jobs().run('auth.purge-login-attempts')).resolves.toBeUndefined();
  });
});

describe('auth.purge-refresh-families', () => {
  const service = () =>
    createRefreshTokenService({ db: t.container.db, clock, lifetimes: () => ({ idleSeconds: 3 * 24 * 3600, absoluteSeconds: 7 * 24 * 3600 }) });
  const login = (userId: string) => inTx((tx) => service().issue(tx, { userId, sessionId: newId(), orgId: null, amr: ['pwd'], authTime: clock.now() }));
  const tokenCount = async (familyId: string) =>
    Number((await t.container.db.selectFrom('refreshTokens').select((eb) => eb.fn.countAll().as('n')).where('familyId', '=', familyId).executeTakeFirstOrThrow()).n);
  const familyExists = async (familyId: string) =>
    (await t.container.db.selectFrom('refreshTokenFamilies').select('id').where('id', '=', familyId).executeTakeFirst()) !== undefined;

  it('deletes expired families and those revoked over a day ago with their tokens; every deleted token still answers 401', async () => {
    const userId = await createTestUser(t, `families${++seq}@example.test`);
    const expired = await login(userId);
    const oldRevoked = await login(userId);
    const recentRevoked = await login(userId);
    const live = await login(userId);
    // Rotate a few times so the families own several tokens (the purge deletes tokens first).
    const rotated = await service().refresh(expired.token);
    await service().refresh(rotated.token);
    const recentSecond = await service().refresh(recentRevoked.token);
    expect(await tokenCount(expired.familyId)).toBe(3);

    await inTx((tx) => service().revokeFamily(tx, oldRevoked.familyId, 'logout'));
    clock.advance(25 * HOUR);
    await inTx((tx) => service().revokeFamily(tx, recentRevoked.familyId, 'logout'));
    clock.advance(HOUR);
    await t.container.db.updateTable('refreshTokenFamilies').set({ expiresAt: new Date(clock.nowMs() - MINUTE) }).where('id', '=', expired.familyId).execute();

    await jobs().run('auth.purge-refresh-families');
    expect(await familyExists(expired.familyId)).toBe(false);
    expect(await tokenCount(expired.familyId)).toBe(0);
    expect(await familyExists(oldRevoked.familyId)).toBe(false);
    expect(await tokenCount(oldRevoked.familyId)).toBe(0);
    expect(await familyExists(recentRevoked.familyId)).toBe(true);
    expect(await tokenCount(recentRevoked.familyId)).toBe(2);
    expect(await familyExists(live.familyId)).toBe(true);

    // A deleted family's token is unknown now: the same 401 as any invalid token.
    await expect(service().refresh(oldRevoked.token)).rejects.toMatchObject({ status: 401, code: 'invalid_refresh_token' });
    await expect(service().refresh(rotated.token)).rejects.toMatchObject({ status: 401, code: 'invalid_refresh_token' });
    // A recently revoked family still meets a replayed token as reuse (401 too), so it was kept.
    const replay = await inTx((tx) => service().rotate(tx, recentRevoked.token));
    expect(replay).toEqual({ outcome: 'reused', familyId: recentRevoked.familyId });
    await expect(service().refresh(recentSecond.token)).rejects.toMatchObject({ status: 401 });
    // The live family is untouched.
    await expect(service().refresh(live.token)).resolves.toMatchObject({ outcome: 'rotated' });
  });
});

describe('auth.purge-email-tokens', () => {
  const insertTokens = async (count: number, expiresAt: Date) => {
    const ids: string[] = [];
    for (let start = 0; start < count; start += 500) {
      const rows = Array.from({ length: Math.min(500, count - start) }, () => {
        const id = newId();
        ids.push(id);
        return {
          id,
          purpose: 'password-reset' as const,
          tokenHash: randomBytes(32),
          email: randomBytes(40),
          emailIndex: randomBytes(32),
          userId: null,
          orgId: null,
          role: null,
          payload: null,
          createdBy: null,
          createdAt: new Date(expiresAt.getTime() - HOUR),
          expiresAt,
        };
      });
      await t.container.db.insertInto('emailTokens').values(rows).execute();
    }
    return ids;
  };
  const countOf = async (ids: string[]) =>
    Number((await t.container.db.selectFrom('emailTokens').select((eb) => eb.fn.countAll().as('n')).where('id', 'in', ids).executeTakeFirstOrThrow()).n);

  it('deletes tokens expired over 7 days ago in batches of 500 until none is left, and keeps younger ones', async () => {
    const now = clock.nowMs();
    const old = await insertTokens(1_203, new Date(now - EXPIRED_EMAIL_TOKEN_RETENTION_MS - MINUTE));
    const recentlyExpired = await insertTokens(3, new Date(now - EXPIRED_EMAIL_TOKEN_RETENTION_MS + HOUR));
    const open = await insertTokens(2, new Date(now + HOUR));

    // An aborted run stops before its first batch.
    const aborted = new AbortController();
    aborted.abort();
    await jobs().run('auth.purge-email-tokens', aborted.signal);
    expect(await countOf(old)).toBe(1_203);

    expect(emailTokenBatches).toEqual([]);

    await jobs().run('auth.purge-email-tokens');
    expect(emailTokenBatches).toEqual([500, 500, 203]);
    expect(await countOf(old)).toBe(0);
    expect(await countOf(recentlyExpired)).toBe(3);
    expect(await countOf(open)).toBe(2);
  });
});

describe('mail.purge-finished', () => {
  it('deletes mail sent or given up on over 30 days ago and keeps recent, pending and recently failed mail', async () => {
    const repo = t.container.repos.mail;
    const send = () => inTx((tx) => t.container.services.mail.send(tx, `outbox${++seq}@example.test`, 'password-reset-unknown', {}));
    const oldSent = await send();
    const recentSent = await send();
    const pending = await send();
    const failed = await send();
    const now = clock.nowMs();
    await repo.markSent(t.container.db, oldSent, new Date(now - 31 * DAY));
    await repo.markSent(t.container.db, recentSent, new Date(now - 29 * DAY));
    await repo.markFailed(t.container.db, failed, 'EENVELOPE 550 at RCPT TO', true);
    const oldFailed = await send();
    await repo.markFailed(t.container.db, oldFailed, 'EENVELOPE 550 at RCPT TO', true);
    await t.container.db.updateTable('mailOutbox').set({ createdAt: new Date(now - 31 * DAY) }).where('id', '=', oldFailed).execute();

    await jobs().run('mail.purge-finished');
    const left = (await t.container.db.selectFrom('mailOutbox').select('id').where('id', 'in', [oldSent, recentSent, pending, failed, oldFailed]).execute()).map((r) => r.id);
    expect(left.sort()).toEqual([recentSent, pending, failed].sort());
  });
});
