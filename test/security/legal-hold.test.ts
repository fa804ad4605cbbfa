import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/schema.js';
import { grantAppRole } from '../../src/ops/migrate.js';
import { createManualClock } from '../../src/platform/clock.js';
import { openDatabase, type DatabaseHandle } from '../../src/platform/db/database.js';
import { APP_ROLE } from '../setup/global-setup.js';
import { bearer, createOrg, createUserWithPassword, json, login } from '../setup/identity-factory.js';
import { insertAttempts, insertScan } from '../setup/scan-rows.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Legal hold (issue 9 §4, ADR 0013): a hold per organisation or per scan blocks retention of what it
 * covers, and released, lets the next run purge it; holds and runs are for super-admins only; audit
 * events are removed only by the purge function, in whole segments, never around a held organisation.
 */

const DAY = 86_400_000;
const PASSWORD = 'a legal hold test passphrase 5521';
const clock = createManualClock(new Date('2026-01-01T00:00:00Z'));
const T0 = clock.now();
let t: TestApp;
let ownerId: string;
let heldOrg: string;
let freeOrg: string;

const db = () => t.container.db;
const countOf = async (table: string, where = sql`true`) =>
  (await sql<{ count: number }>`select count(*)::int as count from ${sql.table(table)} where ${where}`.execute(db())).rows[0]!.count;

let tokenAt = -1;
let rootToken = '';
async function asRoot(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) {
  if (tokenAt !== clock.nowMs()) {
    rootToken = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
    tokenAt = clock.nowMs();
  }
  return t.app.inject({ method, url, headers: { ...bearer(rootToken), ...(payload ? json : {}) }, ...(payload ? { payload } : {}) });
}

async function finishedScan(org: string, finishedAt: Date, cells = 2): Promise<string> {
  const scanId = await insertScan(t.container, org, ownerId, cells);
  await insertAttempts(t.container, org, scanId, Array.from({ length: cells }, (_, cellIndex) => ({ cellIndex })));
  await sql`update scans set status = 'completed', attempts_done = ${cells}, finished_at = ${finishedAt} where id = ${scanId}`.execute(db());
  return scanId;
}

const runNow = async () => {
  const response = await asRoot('POST', '/api/v1/admin/retention/runs');
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ counts: Record<string, number> }>().counts;
};
const preview = async () => (await asRoot('GET', '/api/v1/admin/retention/preview')).json<{ counts: Record<string, number> }>().counts;

beforeAll(async () => {
  t = await createTestApp({ overrides: { clock, runJobs: false } });
  // The clock jumps years: MFA enrollment grace is not what this file tests.
  await sql`update organisations set mfa_requirement = 'optional'`.execute(db());
  ownerId = await createUserWithPassword(t, 'hold-owner@example.test', PASSWORD);
  heldOrg = await createOrg(t, 'held-org', [ownerId]);
  freeOrg = await createOrg(t, 'free-org', [ownerId]);
  await sql`update organisations set mfa_requirement = 'optional'`.execute(db());
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('[ASVS 8.2.1] legal holds and retention runs are for super-admins only', () => {
  it('an organisation owner gets 403 on every route and changes nothing', async () => {
    const token = (await login(t, 'hold-owner@example.test', PASSWORD)).accessToken;
    const headers = { ...bearer(token), 'x-organization-id': heldOrg };
    const calls = [
      { method: 'POST' as const, url: '/api/v1/admin/legal-holds', payload: { orgId: heldOrg, reason: 'mine' } },
      { method: 'GET' as const, url: '/api/v1/admin/legal-holds' },
      { method: 'DELETE' as const, url: '/api/v1/admin/legal-holds/0190a3d1-0000-7000-8000-000000000000' },
      { method: 'GET' as const, url: '/api/v1/admin/retention/preview' },
      { method: 'POST' as const, url: '/api/v1/admin/retention/runs' },
      { method: 'GET' as const, url: '/api/v1/admin/retention/runs' },
    ];
    for (const call of calls) {
      const response = await t.app.inject({ method: call.method, url: call.url, headers: { ...headers, ...(call.payload ? json : {}) }, ...(call.payload ? { payload: call.payload } : {}) });
      expect(response.statusCode, `${call.method} ${call.url}`).toBe(403);
    }
    expect(await countOf('legal_holds')).toBe(0);
    expect(await countOf('retention_runs')).toBe(0);
  });
});

describe('[ASVS 14.2.7] a legal hold blocks retention of what it covers until it is released', () => {
  it('organisation and scan holds keep their data; released, the next run purges it; the hold stays as a record', async () => {
    const heldOrgScan = await finishedScan(heldOrg, T0);
    const heldScan = await finishedScan(freeOrg, T0);
    const freeScan = await finishedScan(freeOrg, T0);

    const orgHold = await asRoot('POST', '/api/v1/admin/legal-holds', { orgId: heldOrg, reason: 'Matter 2026-17: preserve everything' });
    expect(orgHold.statusCode, orgHold.body).toBe(201);
    const scanHold = await asRoot('POST', '/api/v1/admin/legal-holds', { orgId: freeOrg, scanId: heldScan, reason: 'Incident 42' });
    expect(scanHold.statusCode, scanHold.body).toBe(201);
    expect(scanHold.json()).toMatchObject({ orgId: freeOrg, scanId: heldScan, active: true, reason: 'Incident 42' });
    // A scan named under another organisation is answered as missing, and nothing is held.
    expect((await asRoot('POST', '/api/v1/admin/legal-holds', { orgId: heldOrg, scanId: freeScan, reason: 'x' })).statusCode).toBe(404);
    // The reason is stored sealed, not as text.
    const stored = await db().selectFrom('legalHolds').select('reason').where('id', '=', scanHold.json<{ id: string }>().id).executeTakeFirstOrThrow();
    expect(stored.reason.includes(Buffer.from('Incident 42'))).toBe(false);

    clock.set(new Date(T0.getTime() + 400 * DAY));
    expect((await preview()).attempts).toBe(2);
    expect((await runNow()).attempts).toBe(2);
    expect(await countOf('attempts', sql`scan_id = ${freeScan}`)).toBe(0);
    expect(await countOf('attempts', sql`scan_id = ${heldScan}`)).toBe(2);
    expect(await countOf('attempts', sql`scan_id = ${heldOrgScan}`)).toBe(2);

    const released = await asRoot('DELETE', `/api/v1/admin/legal-holds/${scanHold.json<{ id: string }>().id}`);
    expect(released.statusCode, released.body).toBe(200);
    expect(released.json()).toMatchObject({ active: false, releasedAt: clock.now().toISOString() });
    expect((await asRoot('DELETE', `/api/v1/admin/legal-holds/${scanHold.json<{ id: string }>().id}`)).statusCode).toBe(409);
    expect((await preview()).attempts).toBe(2);
    expect((await runNow()).attempts).toBe(2);
    expect(await countOf('attempts', sql`scan_id = ${heldScan}`)).toBe(0);
    expect(await countOf('attempts', sql`scan_id = ${heldOrgScan}`)).toBe(2);

    expect((await asRoot('DELETE', `/api/v1/admin/legal-holds/${orgHold.json<{ id: string }>().id}`)).statusCode).toBe(200);
    expect((await runNow()).attempts).toBe(2);
    expect(await countOf('attempts', sql`scan_id = ${heldOrgScan}`)).toBe(0);
    const list = (await asRoot('GET', '/api/v1/admin/legal-holds')).json<{ items: Array<{ active: boolean }> }>();
    expect(list.items).toHaveLength(2);
    expect(list.items.every((hold) => !hold.active)).toBe(true);
  });
});

describe('[ASVS 16.4.2] audit events go only through the purge function, in whole segments, never around a held organisation', () => {
  it('a segment with a held organisation’s event is kept with everything after it; released, it goes and the chain verifies', async () => {
    const audit = t.container.audit;
    const start = clock.now();
    const hold = (await asRoot('POST', '/api/v1/admin/legal-holds', { orgId: heldOrg, reason: 'audit hold' })).json<{ id: string }>();
    await t.container.audit.recorder.recordNow({ actor: { type: 'system', id: 'test' }, orgId: heldOrg }, { action: 'policy.applied' });
    const first = (await audit.sealer.sealPending({ forceCheckpoint: true })).checkpoint!;
    clock.set(new Date(start.getTime() + 400 * DAY));
    await asRoot('GET', '/api/v1/admin/legal-holds');
    const second = (await audit.sealer.sealPending({ forceCheckpoint: true })).checkpoint!;
    expect(second.seq).toBeGreaterThan(first.seq);

    expect((await preview()).auditEvents).toBe(0);
    expect((await runNow()).auditEvents).toBe(0);
    expect(await countOf('audit_events', sql`seq <= ${first.seq}`)).toBe(first.seq);
    // The function itself refuses the held segment, whoever calls it.
    await expect(sql`select audit_purge_through(${first.seq}::bigint, ${clock.now()}::timestamptz, 500)`.execute(db())).rejects.toThrow(/legal hold/);

    expect((await asRoot('DELETE', `/api/v1/admin/legal-holds/${hold.id}`)).statusCode).toBe(200);
    const expected = await countOf('audit_events', sql`seq <= ${first.seq}`);
    expect((await preview()).auditEvents).toBe(expected);
    expect((await runNow()).auditEvents).toBe(expected);
    expect(await countOf('audit_events', sql`seq <= ${first.seq}`)).toBe(0);
    await audit.sealer.sealPending({ forceCheckpoint: true });
    expect(await audit.verifier.verifyAll({ ...(audit.checkpointFile ? { checkpointFile: audit.checkpointFile } : {}) })).toMatchObject({ ok: true, checkedFrom: first.seq + 1 });
  });

  it('refuses direct deletes above the horizon (flag or not), too-recent segments, and the newest checkpoint; tampering after a purge is still found', async () => {
    const newest = await db().selectFrom('auditCheckpoints').select('seq').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    const appendOnly = /append-only/;
    await expect(sql`delete from audit_events where seq = ${newest.seq}`.execute(db())).rejects.toThrow(appendOnly);
    await expect(
      db().transaction().execute(async (tx) => {
        await sql`select set_config('vutf.audit_purge_through', ${String(newest.seq)}, true)`.execute(tx);
        await sql`delete from audit_events where seq = ${newest.seq}`.execute(tx);
      }),
    ).rejects.toThrow(appendOnly);
    await expect(sql`select audit_purge_through(${newest.seq}::bigint, ${clock.now()}::timestamptz, 500)`.execute(db())).rejects.toThrow(/older than the newest/);
    await expect(sql`truncate audit_purges`.execute(db())).rejects.toThrow(appendOnly);
    await expect(sql`delete from audit_purges`.execute(db())).rejects.toThrow(appendOnly);

    // A row after the horizon changed behind the triggers' back (the owner disabling them) is still caught.
    const horizon = (await db().selectFrom('auditPurges').select('throughSeq').orderBy('throughSeq', 'desc').executeTakeFirstOrThrow()).throughSeq;
    const victim = Number(horizon) + 2;
    await sql`alter table audit_events disable trigger user`.execute(db());
    try {
      await sql`update audit_events set action = 'user.deleted' where seq = ${victim}`.execute(db());
    } finally {
      await sql`alter table audit_events enable trigger user`.execute(db());
    }
    expect(await t.container.audit.verifier.verifyAll()).toMatchObject({ ok: false, firstBadSeq: victim, reason: 'hash-mismatch' });
  });
});

describe.runIf(process.env.DATABASE_URL && process.env.REDIS_URL)('[ASVS 16.4.2] the application role (PostgreSQL, DESIGN §9)', () => {
  let app: DatabaseHandle;
  let appDb: Kysely<Database>;

  beforeAll(async () => {
    await grantAppRole(t.container.db as never, APP_ROLE.name);
    const url = new URL(t.config.databaseUrl!);
    url.username = APP_ROLE.name;
    url.password = APP_ROLE.password;
    app = await openDatabase({ mode: 'server', dataDir: t.config.dataDir, databaseUrl: url.toString(), poolMax: 2, statementTimeoutMs: 10_000, breaker: { run: (fn) => fn() }, logger: { warn: () => undefined } });
    appDb = app.db;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('cannot delete audit rows or record a purge horizon itself; it can only call the purge function, which applies its rules', async () => {
    const head = await db().selectFrom('auditEvents').select('seq').where('seq', 'is not', null).orderBy('seq', 'desc').executeTakeFirstOrThrow();
    await expect(sql`delete from audit_events where seq = ${head.seq}`.execute(appDb)).rejects.toThrow(/permission denied/);
    await expect(sql`insert into audit_purges (through_seq, head_hash, cutoff, purged_at) values (${head.seq}, ${Buffer.alloc(32)}, now(), now())`.execute(appDb)).rejects.toThrow(
      /written only by audit_purge_through/,
    );
    const newest = await db().selectFrom('auditCheckpoints').select('seq').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    await expect(sql`select audit_purge_through(${newest.seq}::bigint, now(), 500)`.execute(appDb)).rejects.toThrow(/older than the newest/);
    expect(await countOf('audit_events', sql`seq = ${head.seq}`)).toBe(1);
  });
});
