import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';
import type { Tx } from '../../src/platform/db/transaction.js';
import { createRefreshTokenService, type RefreshTokenService, type RotateResult } from '../../src/modules/auth/refresh-token.service.js';
import { createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';
import { serverUrls } from '../setup/environment.js';

/**
 * Refresh tokens on the real database (PGlite by default, PostgreSQL when DATABASE_URL/REDIS_URL are set):
 * rotation, reuse detection, the concurrent-refresh race, lifetimes and revocation (DESIGN §6).
 */
const IDLE_SECONDS = 3600;
const ABSOLUTE_SECONDS = 8 * 3600;

let t: TestApp;
let clock: ReturnType<typeof createManualClock>;
let service: RefreshTokenService;

beforeAll(async () => {
  t = await createTestApp();
  clock = createManualClock(new Date());
  service = createRefreshTokenService({
    db: t.container.db,
    clock,
    lifetimes: () => ({ idleSeconds: IDLE_SECONDS, absoluteSeconds: ABSOLUTE_SECONDS }),
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const inTx = <T>(fn: (tx: Tx) => Promise<T>) => t.container.db.transaction().execute(fn);

const login = async (userId: string) =>
  inTx((tx) => service.issue(tx, { userId, sessionId: newId(), orgId: null, amr: ['pwd'], authTime: clock.now() }));

const rotate = (token: string) => inTx((tx) => service.rotate(tx, token));

const rotated = (result: RotateResult) => {
  if (result.outcome !== 'rotated') throw new Error(`expected rotated, got ${result.outcome}`);
  return result;
};

/**
 * On PostgreSQL, waits until some statement is blocked on a lock (so the interleaving under test really
 * happens). PGlite has one session: the second transaction queues behind the first and never gets that far.
 */
const waitForLockWaiter = async () => {
  if (!serverUrls()) return;
  for (let i = 0; i < 1000; i++) {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`.execute(t.container.db);
    if ((rows[0]?.n ?? 0) > 0) return;
  }
  throw new Error('no transaction ever waited on a lock');
};

const familyRow = (familyId: string) =>
  t.container.db.selectFrom('refreshTokenFamilies').selectAll().where('id', '=', familyId).executeTakeFirstOrThrow();

describe('refresh tokens', () => {
  it('V7.2.3 issues opaque 256-bit tokens, V10.4.5 every use rotates and each old token is dead', async () => {
    const userId = await createTestUser(t, `chain-${newId()}@example.test`);
    const first = await login(userId);
    expect(first.token).toMatch(/^vutf_rt_[A-Za-z0-9_-]{43}$/);

    const second = rotated(await rotate(first.token));
    expect(second.familyId).toBe(first.familyId);
    expect(second.token).not.toBe(first.token);
    expect(second.family).toMatchObject({ userId, orgId: null, amr: ['pwd'] });
    expect(second.expiresAt.getTime()).toBe(first.expiresAt.getTime());

    const third = rotated(await rotate(second.token));
    expect(third.family.sessionId).toBe(second.family.sessionId);

    // The chain is linked: each row marked used and pointing at its successor.
    const rows = await t.container.db.selectFrom('refreshTokens').selectAll().where('familyId', '=', first.familyId).orderBy('id').execute();
    expect(rows).toHaveLength(3);
    expect(rows[0]!.usedAt).not.toBeNull();
    expect(rows[1]!.usedAt).not.toBeNull();
    expect(rows[2]!.usedAt).toBeNull();
    expect(rows[0]!.replacedBy).toBe(rows[1]!.id);
    expect(rows[1]!.replacedBy).toBe(rows[2]!.id);

    // Each old token is dead: presenting one never rotates again.
    expect((await rotate(second.token)).outcome).not.toBe('rotated');
    expect((await rotate(first.token)).outcome).not.toBe('rotated');
  });

  it('rejects unknown and malformed tokens without touching anything', async () => {
    expect(await rotate('vutf_rt_' + 'A'.repeat(43))).toEqual({ outcome: 'invalid' });
    expect(await rotate('not-a-token')).toEqual({ outcome: 'invalid' });
    expect(await rotate('')).toEqual({ outcome: 'invalid' });
  });

  it('V10.4.5 a second use of a rotated token revokes the whole family, newest token included', async () => {
    const userId = await createTestUser(t, `reuse-${newId()}@example.test`);
    const first = await login(userId);
    const second = rotated(await rotate(first.token));

    expect(await rotate(first.token)).toEqual({ outcome: 'reused', familyId: first.familyId });
    // The revocation committed although the refresh failed.
    expect(await familyRow(first.familyId)).toMatchObject({ revokedReason: 'reuse' });
    expect((await familyRow(first.familyId)).revokedAt).not.toBeNull();
    expect(await rotate(second.token)).toEqual({ outcome: 'invalid' });
  });

  it('refresh() commits the reuse revocation, then throws a generic 401', async () => {
    const userId = await createTestUser(t, `refresh-${newId()}@example.test`);
    const first = await login(userId);
    const second = await service.refresh(first.token);
    await expect(service.refresh(first.token)).rejects.toMatchObject({ status: 401, code: 'invalid_refresh_token', detail: 'The refresh token is invalid or expired.' });
    expect((await familyRow(first.familyId)).revokedAt).not.toBeNull();
    await expect(service.refresh(second.token)).rejects.toMatchObject({ status: 401, code: 'invalid_refresh_token' });
  });

  it('V10.4.5 of two concurrent refreshes of one token exactly one rotates, then the family is revoked', async () => {
    const userId = await createTestUser(t, `race-${newId()}@example.test`);
    const first = await login(userId);

    const results = await Promise.all([rotate(first.token), rotate(first.token)]);
    const winners = results.filter((r) => r.outcome === 'rotated');
    const losers = results.filter((r) => r.outcome !== 'rotated');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]!.outcome).toBe('reused');

    expect((await familyRow(first.familyId)).revokedAt).not.toBeNull();
    expect(await rotate(rotated(winners[0]!).token)).toEqual({ outcome: 'invalid' });
  });

  it('V10.4.5 a rotation blocked behind a concurrent one sees 0 rows, is reuse, and revokes the family', async () => {
    const userId = await createTestUser(t, `blocked-${newId()}@example.test`);
    const first = await login(userId);
    const tx1 = await t.container.db.startTransaction().execute();
    const winner = rotated(await service.rotate(tx1, first.token));
    const loser = rotate(first.token);
    await waitForLockWaiter();
    await tx1.commit().execute();
    expect(await loser).toEqual({ outcome: 'reused', familyId: first.familyId });
    expect(await rotate(winner.token)).toEqual({ outcome: 'invalid' });
  });

  it('V7.4.2 a revocation racing a rotation also kills the token that rotation minted', async () => {
    const userId = await createTestUser(t, `revoke-race-${newId()}@example.test`);
    const first = await login(userId);
    const tx1 = await t.container.db.startTransaction().execute();
    const minted = rotated(await service.rotate(tx1, first.token));
    const revocation = inTx((tx) => service.revokeAllForUser(tx, userId, 'user-disabled'));
    await waitForLockWaiter();
    await tx1.commit().execute();
    expect(await revocation).toBe(1);
    expect(await rotate(minted.token)).toEqual({ outcome: 'invalid' });
  });

  it('V7.3.1 an idle token expires after the idle lifetime; each rotation starts a new idle window', async () => {
    const userId = await createTestUser(t, `idle-${newId()}@example.test`);
    const first = await login(userId);
    clock.advance(IDLE_SECONDS * 1000 - 1000);
    const second = rotated(await rotate(first.token));
    clock.advance(IDLE_SECONDS * 1000 - 1000);
    const third = rotated(await rotate(second.token));
    clock.advance(IDLE_SECONDS * 1000);
    expect(await rotate(third.token)).toEqual({ outcome: 'invalid' });
  });

  it('V7.3.2 V10.4.8 a family dies at its absolute lifetime however often it rotates', async () => {
    const userId = await createTestUser(t, `absolute-${newId()}@example.test`);
    const first = await login(userId);
    let token = first.token;
    // Rotate inside the idle window until just before the absolute end.
    for (let elapsed = 0; elapsed + IDLE_SECONDS / 2 < ABSOLUTE_SECONDS; elapsed += IDLE_SECONDS / 2) {
      clock.advance((IDLE_SECONDS / 2) * 1000);
      const next = rotated(await rotate(token));
      expect(next.idleExpiresAt.getTime()).toBeLessThanOrEqual(first.expiresAt.getTime());
      token = next.token;
    }
    clock.set(first.expiresAt);
    expect(await rotate(token)).toEqual({ outcome: 'invalid' });
  });

  it('V7.4.1 logout revokes the session family only', async () => {
    const userId = await createTestUser(t, `logout-${newId()}@example.test`);
    const sessionId = newId();
    const a = await inTx((tx) => service.issue(tx, { userId, sessionId, orgId: null, amr: ['pwd'], authTime: clock.now() }));
    const b = await login(userId);
    expect(await inTx((tx) => service.revokeSession(tx, userId, sessionId))).toBe(true);
    expect(await rotate(a.token)).toEqual({ outcome: 'invalid' });
    expect((await rotate(b.token)).outcome).toBe('rotated');
  });

  it('V7.4.2 V7.4.3 revokeAllForUser kills every family of that user and no other user’s', async () => {
    const victim = await createTestUser(t, `all-${newId()}@example.test`);
    const bystander = await createTestUser(t, `other-${newId()}@example.test`);
    const one = await login(victim);
    const two = rotated(await rotate((await login(victim)).token));
    const other = await login(bystander);

    expect(await inTx((tx) => service.revokeAllForUser(tx, victim, 'password-changed'))).toBe(2);
    expect(await rotate(one.token)).toEqual({ outcome: 'invalid' });
    expect(await rotate(two.token)).toEqual({ outcome: 'invalid' });
    expect((await familyRow(one.familyId)).revokedReason).toBe('password-changed');
    expect((await rotate(other.token)).outcome).toBe('rotated');
  });

  it('revokeFamily revokes once and reports whether it did', async () => {
    const userId = await createTestUser(t, `family-${newId()}@example.test`);
    const first = await login(userId);
    expect(await inTx((tx) => service.revokeFamily(tx, first.familyId, 'logout'))).toBe(true);
    expect(await inTx((tx) => service.revokeFamily(tx, first.familyId, 'logout'))).toBe(false);
    expect(await rotate(first.token)).toEqual({ outcome: 'invalid' });
  });

  it('V7.2.3 the table stores only digests, never a token', async () => {
    const userId = await createTestUser(t, `raw-${newId()}@example.test`);
    const first = await login(userId);
    const second = rotated(await rotate(first.token));
    const dump = await sql<{ row: string }>`SELECT t::text AS row FROM refresh_tokens t UNION ALL SELECT f::text FROM refresh_token_families f`.execute(t.container.db);
    const text = dump.rows.map((r) => r.row).join('\n');
    for (const token of [first.token, second.token]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(token.slice('vutf_rt_'.length));
      expect(text).not.toContain(Buffer.from(token.slice('vutf_rt_'.length), 'base64url').toString('hex'));
    }
  });
});
