import { describe, expect, it, vi } from 'vitest';
import { createManualClock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { FailureRule, LockoutRepo } from './lockout.repo.js';
import { LOCK_HISTORY_QUIET_MS, createLockoutService, lockPeriodsSeconds, type LockoutPolicy } from './lockout.service.js';

/** The rules the service derives from clock and policy; the SQL itself is tested in test/integration/lockout.test.ts. */
const MINUTE = 60_000;
const tx = { tag: 'tx' } as unknown as Tx;
const db = { tag: 'db' } as unknown as Db;
const index = Buffer.alloc(32, 7);

function setup(lockedUntil: Date | null = null) {
  const clock = createManualClock(new Date('2026-11-28T12:00:00Z'));
  let policy: LockoutPolicy = { maxFailures: 5, windowMinutes: 15, lockMinutes: 30 };
  const repo = {
    recordFailure: vi.fn((_tx: Tx, _index: Buffer, _rule: FailureRule) => Promise.resolve({ failures: 3, lockedUntil })),
    state: vi.fn(() => Promise.resolve({ lockedUntil, counting: false })),
    resetFailures: vi.fn(() => Promise.resolve()),
    unlock: vi.fn(() => Promise.resolve(true)),
  } satisfies LockoutRepo;
  const service = createLockoutService({ db, clock, policy: () => policy, repo });
  return { clock, repo, service, setPolicy: (p: LockoutPolicy) => (policy = p) };
}

describe('lockout rules', () => {
  it('V6.3.1 lock periods start at lockMinutes, double on each repeat and cap at 24 h', () => {
    expect(lockPeriodsSeconds(30).map((s) => s / 60)).toEqual([30, 60, 120, 240, 480, 960, 1440]);
    expect(lockPeriodsSeconds(15).map((s) => s / 60)).toEqual([15, 30, 60, 120, 240, 480, 960, 1440]);
    expect(lockPeriodsSeconds(10_080)).toEqual([86_400]);
  });

  it('V6.3.1 a failure is judged against the injected clock and the live policy', async () => {
    const { clock, repo, service, setPolicy } = setup();
    await service.recordFailure(tx, index);
    setPolicy({ maxFailures: 3, windowMinutes: 5, lockMinutes: 60 });
    clock.advance(MINUTE);
    await service.recordFailure(tx, index);
    const [first, second] = repo.recordFailure.mock.calls.map((call) => call[2]);
    expect(first).toEqual({
      now: new Date('2026-11-28T12:00:00Z'),
      windowCutoff: new Date('2026-11-28T11:45:00Z'),
      quietCutoff: new Date(Date.parse('2026-11-28T12:00:00Z') - LOCK_HISTORY_QUIET_MS),
      maxFailures: 5,
      lockSeconds: lockPeriodsSeconds(30),
    });
    expect(second).toMatchObject({ now: new Date('2026-11-28T12:01:00Z'), windowCutoff: new Date('2026-11-28T11:56:00Z'), maxFailures: 3 });
    expect(repo.recordFailure.mock.calls.every((call) => call[0] === tx)).toBe(true);
  });

  it('V6.3.1 a lock whose end has passed reports unlocked', async () => {
    const until = new Date('2026-11-28T12:30:00Z');
    const { clock, service } = setup(until);
    expect(await service.status(tx, index)).toMatchObject({ locked: true, lockedUntil: until });
    expect(await service.recordFailure(tx, index)).toMatchObject({ locked: true, lockedUntil: until, failures: 3 });
    clock.set(until);
    expect(await service.status(tx, index)).toMatchObject({ locked: false, lockedUntil: null });
    expect(await service.recordFailure(tx, index)).toMatchObject({ locked: false, lockedUntil: null, failures: 3 });
  });

  it('writes go through the transaction handle only; status falls back to the root handle', async () => {
    const { repo, service } = setup();
    await service.recordSuccess(tx, index);
    await service.unlock(tx, index);
    expect(repo.resetFailures).toHaveBeenCalledWith(tx, index, expect.any(Date));
    expect(repo.unlock).toHaveBeenCalledWith(tx, index, expect.any(Date));
    await service.status(undefined, index);
    await service.status(tx, index);
    expect(repo.state.mock.calls.map((call: unknown[]) => call[0])).toEqual([db, tx]);
  });
});
