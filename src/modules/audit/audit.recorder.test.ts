import { describe, expect, it, vi } from 'vitest';
import { createManualClock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { AuditEventRow } from './audit.repo.js';
import { createAuditRecorder, systemContext, type AuditContext } from './audit.recorder.js';

/** What the recorder hands the repository: defaults filled, everything bounded. The SQL is tested in test/security/audit-recording.test.ts. */
const tx = { tag: 'tx' } as unknown as Tx;
const db = { tag: 'db' } as unknown as Db;
const user: AuditContext = { actor: { type: 'user', id: 'u-1' }, orgId: 'org-1', requestId: 'req-1', ip: '192.0.2.7', userAgent: 'probe/1' };

function setup() {
  const clock = createManualClock(new Date('2026-11-28T12:00:00Z'));
  const rows: Array<{ executor: unknown; row: AuditEventRow }> = [];
  const auditRepo = { insert: vi.fn((executor: Db | Tx, row: AuditEventRow) => Promise.resolve(void rows.push({ executor, row }))) };
  return { recorder: createAuditRecorder({ db, auditRepo, clock }), rows, clock };
}

describe('audit recorder', () => {
  it('record inserts in the caller’s transaction; recordNow on its own statement', async () => {
    const { recorder, rows } = setup();
    const first = await recorder.record(tx, user, { action: 'org.updated', resourceId: 'org-1' });
    const second = await recorder.recordNow(user, { action: 'user.list' });
    expect(rows.map(({ executor }) => executor)).toEqual([tx, db]);
    expect(rows.map(({ row }) => row.id)).toEqual([first, second]);
    expect(first).not.toBe(second);
  });

  it('fills the defaults: success, the catalogue’s resource type, the context’s organisation, the clock’s time, the user as actor user', async () => {
    const { recorder, rows, clock } = setup();
    await recorder.record(tx, user, { action: 'member.removed' });
    expect(rows[0]!.row).toMatchObject({
      occurredAt: clock.now(),
      actorType: 'user',
      actorId: 'u-1',
      actorUserId: 'u-1',
      orgId: 'org-1',
      action: 'member.removed',
      resourceType: 'membership',
      resourceId: null,
      subjectIndex: null,
      outcome: 'success',
      statusCode: null,
      requestId: 'req-1',
      clientIp: '192.0.2.7',
      userAgent: 'probe/1',
      changedFields: [],
      detail: {},
    });
  });

  it('lets an event name another organisation (or none) and another resource type', async () => {
    const { recorder, rows } = setup();
    await recorder.record(tx, user, { action: 'org.created', orgId: 'org-2' });
    await recorder.record(tx, user, { action: 'access.denied', orgId: null, resourceType: 'route', outcome: 'denied' });
    expect(rows.map(({ row }) => [row.orgId, row.resourceType, row.outcome])).toEqual([
      ['org-2', 'org', 'success'],
      [null, 'route', 'denied'],
    ]);
  });

  it('an API key acts for its owner; the system and anonymous callers for no one', async () => {
    const { recorder, rows } = setup();
    await recorder.recordNow({ actor: { type: 'api-key', id: 'key-1', userId: 'u-2' } }, { action: 'api-key.list' });
    await recorder.recordNow(systemContext('policy'), { action: 'policy.applied' });
    await recorder.recordNow({ actor: { type: 'anonymous', id: null } }, { action: 'auth.login.failed', subjectIndex: Buffer.alloc(32, 1) });
    expect(rows.map(({ row }) => [row.actorType, row.actorId, row.actorUserId, row.orgId, row.requestId, row.clientIp, row.userAgent])).toEqual([
      ['api-key', 'key-1', 'u-2', null, null, null, null],
      ['system', 'policy', null, null, null, null, null],
      ['anonymous', null, null, null, null, null, null],
    ]);
    expect(rows[2]!.row.subjectIndex).toEqual(Buffer.alloc(32, 1));
  });

  it('[ASVS 16.4.1] bounds every caller-controlled part: user agent, ids, changed fields and detail', async () => {
    const { recorder, rows } = setup();
    const body = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`field${i}`, i]));
    await recorder.record(
      tx,
      { ...user, userAgent: 'A'.repeat(100_000), actor: { type: 'user', id: 'x'.repeat(1000) } },
      {
        action: 'user.profile.updated',
        resourceId: 'y'.repeat(1000),
        changed: [...Object.keys(body), 'n'.repeat(500), 'field0', 'field0'],
        detail: { ...Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'.repeat(5000)])), ['k'.repeat(500)]: 1 },
      },
    );
    const { row } = rows[0]!;
    expect(row.userAgent).toHaveLength(512);
    expect(row.actorId).toHaveLength(200);
    expect(row.resourceId).toHaveLength(200);
    expect(row.changedFields).toHaveLength(64);
    expect(new Set(row.changedFields).size).toBe(64);
    expect(Object.keys(row.detail)).toHaveLength(32);
    for (const value of Object.values(row.detail)) expect(String(value).length).toBeLessThanOrEqual(200);
  });

  it('cuts each changed field name and detail key to 100 characters and keeps non-text detail values as they are', async () => {
    const { recorder, rows } = setup();
    await recorder.record(tx, user, { action: 'org.updated', changed: ['n'.repeat(500)], detail: { ['k'.repeat(500)]: 3, flag: true, none: null } });
    expect(rows[0]!.row.changedFields).toEqual(['n'.repeat(100)]);
    expect(rows[0]!.row.detail).toEqual({ ['k'.repeat(100)]: 3, flag: true, none: null });
  });

  it('writes nothing when the repository refuses (the caller sees the failure)', async () => {
    const clock = createManualClock();
    const recorder = createAuditRecorder({ db, clock, auditRepo: { insert: () => Promise.reject(new Error('down')) } });
    await expect(recorder.recordNow(user, { action: 'user.read' })).rejects.toThrow('down');
  });
});
