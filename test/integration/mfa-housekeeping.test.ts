import { randomBytes } from 'node:crypto';
import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.js';
import type { JobContext } from '../../src/platform/queue/index.js';
import { mfaHousekeepingJobs } from '../../src/modules/mfa/mfa.jobs.js';
import { createUserWithPassword, login } from '../setup/identity-factory.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { challenge, codeOf, enrollTotp, oathCode, stepAlignedClock, verify, type ManualClock } from '../security/mfa-support.js';

/**
 * Hourly MFA housekeeping (mfa.jobs.ts) on the real database (PGlite, or PostgreSQL 15 when
 * DATABASE_URL is set): expired ceremony rows go in batches of at most 500, live ones stay, and a
 * purged mfaToken answers exactly as it did before the purge. The clock is the injectable one.
 */
const MINUTE = 60_000;
const PASSWORD = 'a long passphrase for mfa housekeeping 51';

let clock: ManualClock;
let t: TestApp;
let userId: string;
/** Rows each DELETE statement of the jobs removed, read from the driver's result. */
const deleted: number[] = [];
const countDeletes: KyselyPlugin = {
  transformQuery: (args) => args.node,
  transformResult: (args) => {
    if (args.result.numAffectedRows !== undefined) deleted.push(Number(args.result.numAffectedRows));
    return Promise.resolve(args.result);
  },
};

beforeAll(async () => {
  clock = stepAlignedClock();
  // runJobs off: the tests run each job themselves, at the instant they choose.
  t = await createTestApp({ overrides: { clock, runJobs: false } });
  userId = await createUserWithPassword(t, 'mfa-housekeeping@example.test', PASSWORD);
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const context = (signal = new AbortController().signal): JobContext => ({ jobId: 'test', attempt: 1, signal });
const run = async (name: 'mfa.purge-webauthn-challenges' | 'mfa.purge-login-challenges', signal?: AbortSignal) => {
  deleted.length = 0;
  const job = mfaHousekeepingJobs({ db: t.container.db.withPlugin(countDeletes), clock }).find((candidate) => candidate.name === name)!;
  await job.handler({}, context(signal));
  return [...deleted];
};

async function insertLoginChallenges(count: number, expiresAt: Date, consumedAt: Date | null = null): Promise<string[]> {
  const rows = Array.from({ length: count }, () => ({
    id: newId(),
    userId,
    tokenHash: randomBytes(32),
    passwordAt: new Date(expiresAt.getTime() - 5 * MINUTE),
    failures: 0,
    createdAt: new Date(expiresAt.getTime() - 5 * MINUTE),
    expiresAt,
    consumedAt,
  }));
  for (let start = 0; start < rows.length; start += 500) await t.container.db.insertInto('mfaChallenges').values(rows.slice(start, start + 500)).execute();
  return rows.map((row) => row.id);
}

async function insertWebauthnChallenges(count: number, expiresAt: Date, binding: { userId?: string; mfaChallengeId?: string } = {}): Promise<string[]> {
  const purpose: 'registration' | 'second-factor' | 'passwordless' = binding.userId ? 'registration' : binding.mfaChallengeId ? 'second-factor' : 'passwordless';
  const rows = Array.from({ length: count }, () => ({
    id: newId(),
    challenge: randomBytes(32).toString('base64url'),
    purpose,
    userId: binding.userId ?? null,
    mfaChallengeId: binding.mfaChallengeId ?? null,
    createdAt: new Date(expiresAt.getTime() - 3 * MINUTE),
    expiresAt,
  }));
  for (let start = 0; start < rows.length; start += 500) await t.container.db.insertInto('webauthnChallenges').values(rows.slice(start, start + 500)).execute();
  return rows.map((row) => row.id);
}

const left = async (table: 'mfaChallenges' | 'webauthnChallenges', ids: string[]) =>
  Number((await t.container.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).where('id', 'in', ids).executeTakeFirstOrThrow()).n);

describe('MFA housekeeping jobs', () => {
  it('are registered with the queue (the hourly schedule enqueues them by name)', async () => {
    for (const name of ['mfa.purge-webauthn-challenges', 'mfa.purge-login-challenges'] as const) {
      await expect(t.container.queue.enqueue(name, {}, { jobId: `registration-check-${name}` })).resolves.toBe(`registration-check-${name}`);
    }
  });

  it('mfa.purge-webauthn-challenges deletes expired challenges of every purpose in batches of 500 and keeps live ones', async () => {
    const now = clock.nowMs();
    const live = new Date(now + MINUTE);
    const expired = new Date(now - MINUTE);
    // Anonymous passwordless challenges: only an insert cleaned them before; an idle instance never inserts.
    const oldPasswordless = await insertWebauthnChallenges(1_003, expired);
    const oldRegistration = await insertWebauthnChallenges(1, expired, { userId });
    const expiresNow = await insertWebauthnChallenges(1, new Date(now));
    const livePasswordless = await insertWebauthnChallenges(2, live);
    const liveRegistration = await insertWebauthnChallenges(1, live, { userId });

    const aborted = new AbortController();
    aborted.abort();
    expect(await run('mfa.purge-webauthn-challenges', aborted.signal)).toEqual([]);
    expect(await left('webauthnChallenges', oldPasswordless)).toBe(1_003);

    expect(await run('mfa.purge-webauthn-challenges')).toEqual([500, 500, 5]);
    expect(await left('webauthnChallenges', [...oldPasswordless, ...oldRegistration, ...expiresNow])).toBe(0);
    expect(await left('webauthnChallenges', [...livePasswordless, ...liveRegistration])).toBe(3);
    // Idempotent: a second run finds nothing.
    expect(await run('mfa.purge-webauthn-challenges')).toEqual([0]);

    // Once their time is up (injectable clock), the rest goes too.
    clock.advance(2 * MINUTE);
    expect(await run('mfa.purge-webauthn-challenges')).toEqual([3]);
  });

  it('mfa.purge-login-challenges deletes expired (also consumed) challenges in batches of 500, with their passkey ceremony, and keeps live ones', async () => {
    const now = clock.nowMs();
    const expired = await insertLoginChallenges(1_001, new Date(now - MINUTE));
    const consumedExpired = await insertLoginChallenges(2, new Date(now - MINUTE), new Date(now - 3 * MINUTE));
    const live = await insertLoginChallenges(2, new Date(now + 4 * MINUTE));
    const consumedLive = await insertLoginChallenges(1, new Date(now + 4 * MINUTE), new Date(now));
    // A second-factor passkey ceremony still open on an expired login challenge: it is dead with it.
    const ceremony = await insertWebauthnChallenges(1, new Date(now + MINUTE), { mfaChallengeId: expired[0]! });
    const liveCeremony = await insertWebauthnChallenges(1, new Date(now + MINUTE), { mfaChallengeId: live[0]! });

    expect(await run('mfa.purge-login-challenges')).toEqual([500, 500, 3]);
    expect(await left('mfaChallenges', [...expired, ...consumedExpired])).toBe(0);
    expect(await left('webauthnChallenges', ceremony)).toBe(0);
    expect(await left('mfaChallenges', [...live, ...consumedLive])).toBe(3);
    expect(await left('webauthnChallenges', liveCeremony)).toBe(1);

    // Five minutes on, the consumed one (dead already) and the live ones have expired: all go.
    clock.advance(5 * MINUTE);
    expect(await run('mfa.purge-login-challenges')).toEqual([3]);
    expect(await left('webauthnChallenges', liveCeremony)).toBe(0);
  });

  it('a purged mfaToken answers exactly like an expired one (401 invalid_mfa), and the next login still works', async () => {
    const email = 'mfa-housekeeping-http@example.test';
    await createUserWithPassword(t, email, PASSWORD);
    const { secret } = await enrollTotp(t, clock, (await login(t, email, PASSWORD)).accessToken);
    const { mfaToken } = await challenge(t, email, PASSWORD);
    clock.advance(5 * MINUTE + 1_000);
    const expiredAnswer = await verify(t, mfaToken, 'totp', '000000');
    expect(expiredAnswer.statusCode).toBe(401);

    expect((await run('mfa.purge-login-challenges')).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    const purgedAnswer = await verify(t, mfaToken, 'totp', '000000');
    expect(purgedAnswer.statusCode).toBe(401);
    expect(codeOf(purgedAnswer)).toBe('invalid_mfa');
    // The same problem, but for the request id.
    const withoutRequestId = (body: Record<string, unknown>) => ({ ...body, requestId: undefined });
    expect(withoutRequestId(purgedAnswer.json())).toEqual(withoutRequestId(expiredAnswer.json()));

    const { mfaToken: next } = await challenge(t, email, PASSWORD);
    expect((await verify(t, next, 'totp', oathCode(secret, clock.nowMs()))).statusCode).toBe(200);
  });
});
