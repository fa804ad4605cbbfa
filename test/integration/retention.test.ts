import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportAuditVerify } from '../../src/ops/audit-verify.command.js';
import { retentionRepo } from '../../src/modules/retention/retention.repo.js';
import { RETENTION_CLASSES } from '../../src/modules/retention/retention.service.js';
import { createManualClock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';
import { readAudit } from '../setup/audit-trail.js';
import { addMember, bearer, createOrg, createUserWithPassword, json, login } from '../setup/identity-factory.js';
import { insertAttempts, insertScan } from '../setup/scan-rows.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Retention (issue 9 §4, ADR 0013) on the embedded default and on PostgreSQL + Redis: per data class,
 * what is past its date goes and what is not stays; the dry run's counts equal the run's; every run is
 * audited with its counts; an audit purge removes whole sealed segments and the chain still verifies.
 */

const DAY = 86_400_000;
const PASSWORD = 'a retention test passphrase 8812';
const clock = createManualClock(new Date('2026-01-01T00:00:00Z'));
const T0 = clock.now();
let t: TestApp;
let rootToken: string;
let orgId: string;
let userId: string;

const db = () => t.container.db;
const countOf = async (table: string, where = sql`true`) =>
  (await sql<{ count: number }>`select count(*)::int as count from ${sql.table(table)} where ${where}`.execute(db())).rows[0]!.count;

/** A scan of `cells` attempts that finished at `finishedAt`. */
async function finishedScan(org: string, finishedAt: Date, cells = 3): Promise<string> {
  const scanId = await insertScan(t.container, org, userId, cells);
  await insertAttempts(t.container, org, scanId, Array.from({ length: cells }, (_, cellIndex) => ({ cellIndex, verdict: 'succeeded' as const })));
  await sql`update scans set status = 'completed', attempts_done = ${cells}, succeeded = ${cells}, finished_at = ${finishedAt} where id = ${scanId}`.execute(db());
  return scanId;
}

async function outboxRow(status: 'pending' | 'sent' | 'failed', at: Date): Promise<string> {
  const id = newId();
  await sql`insert into mail_outbox (id, template, recipient, recipient_index, subject, body, status, attempts, next_attempt_at, created_at, sent_at)
    values (${id}, 'test', ${Buffer.from('x')}, ${Buffer.from('y')}, 'subject', ${Buffer.from('z')}, ${status}, 1, ${at}, ${at}, ${status === 'sent' ? at : null})`.execute(db());
  return id;
}

/** As the super-admin, with a token issued at the clock's current time (tokens live minutes; the clock jumps years). */
let tokenAt = -1;
async function api(method: 'GET' | 'POST', url: string) {
  if (tokenAt !== clock.nowMs()) {
    rootToken = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
    tokenAt = clock.nowMs();
  }
  return t.app.inject({ method, url, headers: bearer(rootToken) });
}

beforeAll(async () => {
  t = await createTestApp({ overrides: { clock, runJobs: false } });
  // The clock jumps years: the super-admin's MFA enrollment grace would end (MFA is not what this file tests).
  await sql`update organisations set mfa_requirement = 'optional'`.execute(t.container.db);
  userId = await createUserWithPassword(t, 'retention-owner@example.test', PASSWORD);
  orgId = await createOrg(t, 'retention-org', [userId]);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('[ASVS 14.2.7] retention removes what is past its date, per data class, and keeps the rest', () => {
  it('dry run equals the run; old attempts, soft-deleted memberships, dead sessions and finished mail go; recent ones stay', async () => {
    const oldScan = await finishedScan(orgId, T0);
    const recentScan = await finishedScan(orgId, new Date(T0.getTime() + 390 * DAY));
    const runningScan = await insertScan(t.container, orgId, userId, 2);
    await insertAttempts(t.container, orgId, runningScan, [{ cellIndex: 0 }, { cellIndex: 1 }]);

    const oldMember = await createUserWithPassword(t, 'old-member@example.test', PASSWORD);
    const recentMember = await createUserWithPassword(t, 'recent-member@example.test', PASSWORD);
    await addMember(t, orgId, oldMember, 'viewer');
    await addMember(t, orgId, recentMember, 'viewer');
    await sql`update memberships set deleted_at = ${T0} where user_id = ${oldMember}`.execute(db());
    await sql`update memberships set deleted_at = ${new Date(T0.getTime() + 390 * DAY)} where user_id = ${recentMember}`.execute(db());

    const oldMail = await outboxRow('sent', T0);
    const pendingMail = await outboxRow('pending', T0);
    const recentMail = await outboxRow('sent', new Date(T0.getTime() + 390 * DAY));
    // A login at T0: its refresh-token family expires a day later (policy default), long before "now".
    await login(t, 'retention-owner@example.test', PASSWORD);
    const families = await countOf('refresh_token_families');
    expect(families).toBeGreaterThanOrEqual(1);

    clock.set(new Date(T0.getTime() + 400 * DAY));
    const preview = await api('GET', '/api/v1/admin/retention/preview');
    expect(preview.statusCode, preview.body).toBe(200);
    const previewCounts = preview.json<{ counts: Record<string, number> }>().counts;
    expect(previewCounts).toMatchObject({ attempts: 3, memberships: 1, mailOutbox: 1, refreshTokenFamilies: families });
    // The dry run wrote nothing.
    expect(await countOf('attempts', sql`scan_id = ${oldScan}`)).toBe(3);
    expect(await countOf('retention_runs')).toBe(0);

    const run = await api('POST', '/api/v1/admin/retention/runs');
    expect(run.statusCode, run.body).toBe(201);
    const body = run.json<{ id: string; outcome: string; trigger: string; counts: Record<string, number> }>();
    expect(body).toMatchObject({ outcome: 'completed', trigger: 'api' });
    expect(body.counts).toEqual(previewCounts);

    expect(await countOf('attempts', sql`scan_id = ${oldScan}`)).toBe(0);
    expect(await countOf('attempts', sql`scan_id = ${recentScan}`)).toBe(3);
    expect(await countOf('attempts', sql`scan_id = ${runningScan}`)).toBe(2);
    // The scan row and its counts stay.
    const scan = await db().selectFrom('scans').select(['status', 'attemptsDone', 'succeeded']).where('id', '=', oldScan).executeTakeFirstOrThrow();
    expect(scan).toEqual({ status: 'completed', attemptsDone: 3, succeeded: 3 });
    expect(await countOf('memberships', sql`user_id = ${oldMember}`)).toBe(0);
    expect(await countOf('memberships', sql`user_id = ${recentMember}`)).toBe(1);
    expect(await countOf('mail_outbox', sql`id in (${oldMail}, ${pendingMail}, ${recentMail})`)).toBe(2);
    expect(await countOf('refresh_token_families', sql`created_at < ${new Date(T0.getTime() + DAY)}`)).toBe(0);

    // Audited with its counts, and listed.
    const [event] = await readAudit(t, { action: 'retention.run.completed', resourceId: body.id });
    expect(event).toMatchObject({ actorType: 'user', outcome: 'success', resourceType: 'retention-run' });
    // Outcome, trigger and every class's count, zeros included: none is cut off by the recorder's bound.
    expect(Object.keys(body.counts)).toHaveLength(RETENTION_CLASSES.length);
    expect(event!.detail).toEqual({ ...body.counts, outcome: 'completed', trigger: 'api' });
    const runs = await api('GET', '/api/v1/admin/retention/runs');
    expect(runs.json<{ items: Array<{ id: string; counts: Record<string, number> }> }>().items[0]).toMatchObject({ id: body.id, counts: body.counts });

    // Idempotent: a second run finds nothing of these classes.
    const again = await t.container.retention.retention.run({ trigger: 'schedule', context: { actor: { type: 'system', id: 'retention.run' } }, actorId: null, signal: new AbortController().signal });
    expect(again.counts).toMatchObject({ attempts: 0, memberships: 0, mailOutbox: 0, refreshTokenFamilies: 0 });
  });

  it('an aborted run stops between batches, is recorded as interrupted, and the next run finishes', async () => {
    const start = clock.now();
    const scanId = await finishedScan(orgId, new Date(start.getTime() - 400 * DAY), 3);
    const controller = new AbortController();
    controller.abort();
    const interrupted = await t.container.retention.retention.run({ trigger: 'schedule', context: { actor: { type: 'system', id: 'retention.run' } }, actorId: null, signal: controller.signal });
    expect(interrupted.outcome).toBe('interrupted');
    expect(await countOf('attempts', sql`scan_id = ${scanId}`)).toBe(3);
    const [event] = await readAudit(t, { action: 'retention.run.completed', resourceId: interrupted.id });
    expect(event).toMatchObject({ actorType: 'system', detail: expect.objectContaining({ outcome: 'interrupted' }) });
    const finished = await t.container.retention.retention.run({ trigger: 'schedule', context: { actor: { type: 'system', id: 'retention.run' } }, actorId: null, signal: new AbortController().signal });
    expect(finished.counts.attempts).toBe(3);
    expect(await countOf('attempts', sql`scan_id = ${scanId}`)).toBe(0);
  });
});

describe('[ASVS 16.4.2] audit retention purges whole sealed segments and the chain still verifies', () => {
  it('purges through the newest checkpoint that is old enough, keeps the rest, and verifies from the kept checkpoint', async () => {
    const audit = t.container.audit;
    // Everything recorded so far happened in the past year or at T0; seal it under one checkpoint...
    clock.set(new Date(T0.getTime() + 400 * DAY));
    const oldSegment = (await audit.sealer.sealPending({ forceCheckpoint: true })).checkpoint ?? (await t.container.db.selectFrom('auditCheckpoints').selectAll().orderBy('seq', 'desc').executeTakeFirstOrThrow());
    // ...then a year and more later, record and seal newer events under a newer checkpoint.
    clock.set(new Date(T0.getTime() + 800 * DAY));
    for (let index = 0; index < 3; index += 1) {
      await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: `nobody${index}@example.test`, password: 'wrong password 12345' } });
    }
    const newer = (await audit.sealer.sealPending({ forceCheckpoint: true })).checkpoint!;
    expect(newer.seq).toBeGreaterThan(oldSegment.seq);

    const expected = await countOf('audit_events', sql`seq <= ${oldSegment.seq}`);
    expect(expected).toBeGreaterThan(0);
    const preview = (await api('GET', '/api/v1/admin/retention/preview')).json<{ counts: Record<string, number> }>();
    expect(preview.counts.auditEvents).toBe(expected);
    // A purge interrupted after its first batch: the horizon is recorded, older rows are still there,
    // and the chain verifies from the kept checkpoint all the same.
    expect(await retentionRepo.purgeAuditBatch(db(), oldSegment.seq, new Date(clock.nowMs() - 365 * DAY), 1)).toBe(1);
    expect(await audit.verifier.verifyAll()).toMatchObject({ ok: true, checkedFrom: oldSegment.seq + 1 });
    const run = await api('POST', '/api/v1/admin/retention/runs');
    expect(run.json<{ counts: Record<string, number> }>().counts.auditEvents).toBe(expected - 1);

    expect(await countOf('audit_events', sql`seq <= ${oldSegment.seq}`)).toBe(0);
    expect(await countOf('audit_events', sql`seq > ${oldSegment.seq} and seq <= ${newer.seq}`)).toBe(newer.seq - oldSegment.seq);
    expect(await countOf('audit_purges', sql`through_seq = ${oldSegment.seq}`)).toBe(1);

    await audit.sealer.sealPending({ forceCheckpoint: true });
    const full = await audit.verifier.verifyAll({ ...(audit.checkpointFile ? { checkpointFile: audit.checkpointFile } : {}) });
    expect(full).toMatchObject({ ok: true, problemCount: 0, checkedFrom: oldSegment.seq + 1 });
    const verify = await api('GET', '/api/v1/audit/verify');
    expect(verify.json()).toMatchObject({ ok: true, reason: null });
    // What `npm run audit:verify` prints and exits with.
    const lines: string[] = [];
    const exitCode = await reportAuditVerify(audit.verifier, audit.checkpointFile ? { checkpointFile: audit.checkpointFile } : {}, { stdout: (line) => lines.push(line), stderr: (line) => lines.push(line) });
    const printed = lines.join('\n');
    expect(printed.startsWith('audit:verify: intact: ')).toBe(true);
    expect(printed).toContain(`(seq ${oldSegment.seq + 1}..`);
    expect(printed).toContain(`; seq 1..${oldSegment.seq} purged by retention)`);
    expect(exitCode).toBe(0);
  });
});
