import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config/config.js';
import { createContainer, type Container } from '../../src/container.js';
import { buildApp } from '../../src/app.js';
import { formatKeyring, generateKeyring, parseKeyring } from '../../src/platform/crypto/keyring.js';
import { createLogger } from '../../src/platform/logger.js';
import { decryptArchive } from '../../src/modules/backup/backup-archive.js';
import { runBackup } from '../../src/ops/backup.command.js';
import { runRestore } from '../../src/ops/restore.command.js';
import { runAuditVerify } from '../../src/ops/audit-verify.command.js';
import type { CommandIo } from '../../src/ops/operator-command.js';
import { newId } from '../../src/platform/ids.js';
import { readAudit } from '../setup/audit-trail.js';
import { emptyInstanceLike, tableDigests } from '../setup/backup-targets.js';
import { insertPlanScan, insertTarget, insertVerdicts, planProbe } from '../setup/finding-rows.js';
import { bearer, createUserWithPassword, json, login } from '../setup/identity-factory.js';
import { insertAttempts, insertScan } from '../setup/scan-rows.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Encrypted backup and restore (issue 9 §3), in the mode the run is in (embedded by default; server
 * when DATABASE_URL and REDIS_URL are set): data made through the API, an archive, a restore into an
 * EMPTY instance, every table compared, the service started on the restored data; a tampered archive
 * refused with nothing written. The running built service is in backup-service.test.ts.
 */

const CANARY_EMAIL = `backup-canary-${randomBytes(4).toString('hex')}@example.test`;
const CANARY_SECRET = `sk-backup-canary-${randomBytes(12).toString('hex')}`;
const CANARY_RESPONSE = `response canary ${randomBytes(12).toString('hex')}`;
const PASSWORD = 'restored passphrase that still works 6620';
/**
 * Audit events the archive cannot hold: those of the backup and restore themselves, and everything
 * recorded after the backup was taken (sign-ins, service starts on the restored copy).
 */
const inArchive = (takenBefore: Date) => ({ audit_events: `action not in ('backup.created', 'backup.restored') and occurred_at <= '${takenBefore.toISOString()}'` });
let backupTakenBefore: Date;

let t: TestApp;
let rootToken: string;
let userId: string;
let targetId: string;
let orgId: string;
let work: string;
let archive: string;
let sourceDigests: Awaited<ReturnType<typeof tableDigests>>;

const captured = () => {
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const io: CommandIo = { stdout: (line) => lines.stdout.push(line), stderr: (line) => lines.stderr.push(line) };
  return { io, lines };
};

/** The service's container on an instance's environment, without jobs (nothing changes behind the test). */
async function openInstance(env: Record<string, string>): Promise<Container> {
  return createContainer(loadConfig(env), { logger: createLogger('silent'), runJobs: false, redisPrefix: `backup-${newId()}` });
}

beforeAll(async () => {
  // No jobs: the sealer runs when the test says, so the source does not change between backup and comparison.
  t = await createTestApp({ overrides: { runJobs: false } });
  work = mkdtempSync(path.join(tmpdir(), 'vutf-backup-'));
  archive = path.join(work, 'round-trip.vutfbak');
  rootToken = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  orgId = (await sql<{ id: string }>`select id from organisations where slug = 'default'`.execute(t.container.db)).rows[0]!.id;
  const rootId = (await t.container.repos.users.findByEmail(t.container.db, BOOTSTRAP_ADMIN.email))!.id;
  userId = await createUserWithPassword(t, CANARY_EMAIL, PASSWORD);
  await login(t, CANARY_EMAIL, PASSWORD); // audit events of a real sign-in

  const target = await t.app.inject({
    method: 'POST',
    url: '/api/v1/targets',
    headers: { ...json, ...bearer(rootToken) },
    payload: { name: 'backed-up target', kind: 'openai-chat', config: { baseUrl: 'https://llm.example.test/v1', model: 'm' }, credentials: { apiKey: CANARY_SECRET } },
  });
  expect(target.statusCode, target.body).toBe(201);
  targetId = target.json<{ id: string }>().id;

  // A scan with attempts whose response holds a canary (and its scan events, a bigserial table).
  const scanId = await insertScan(t.container, orgId, rootId, 3);
  await insertAttempts(t.container, orgId, scanId, [
    { cellIndex: 0, response: Buffer.from(CANARY_RESPONSE) },
    { cellIndex: 1, response: Buffer.concat([Buffer.from('NUL\u0000 and bytes '), randomBytes(64)]) },
  ]);
  // Findings derived from a succeeded attempt, as the derivation job would.
  const simTarget = await insertTarget(t.container, orgId, rootId);
  const planScan = await insertPlanScan(t.container, orgId, rootId, simTarget, [planProbe('backup.finding')]);
  await insertVerdicts(t.container, orgId, planScan, [['backup.finding', 'succeeded']]);
  await t.container.findings.deriver.deriveScan(orgId, planScan);
  const findings = await t.container.db.selectFrom('findings').select('id').where('orgId', '=', orgId).execute();
  expect(findings.length).toBeGreaterThan(0);
  // Sealed audit events with a signed checkpoint: their seq, hash and signature must come back identical.
  await t.container.audit.sealer.sealPending({ forceCheckpoint: true });
}, 180_000);

afterAll(async () => {
  await t?.close();
});

describe('[ASVS 14.2.4] encrypted backup and restore of the whole database', () => {
  it('[ASVS 8.2.1] only a holder of platform:backups:manage gets an archive', async () => {
    const token = (await login(t, CANARY_EMAIL, PASSWORD)).accessToken;
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/admin/backups', headers: bearer(token) });
    expect(response.statusCode).toBe(403);
  });

  it('streams an archive through the API and records backup.created with table counts', async () => {
    const requestId = `req-${newId()}`;
    backupTakenBefore = new Date();
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/admin/backups', headers: { ...bearer(rootToken), 'x-request-id': requestId } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/octet-stream');
    expect(response.headers['cache-control']).toBe('no-store');
    writeFileSync(archive, response.rawPayload, { mode: 0o600 });
    expect(response.rawPayload.subarray(0, 8).toString('latin1')).toBe('VUTFBAK\0');
    sourceDigests = await tableDigests(t.container.db, inArchive(backupTakenBefore));

    const [event] = await readAudit(t, { requestId, action: 'backup.created' });
    expect(event).toMatchObject({ actorType: 'user', outcome: 'success', resourceType: 'database' });
    const detail = event!.detail as Record<string, number>;
    expect(detail.tables).toBe(Object.keys(sourceDigests).length);
    expect(detail['rows.users']).toBe(sourceDigests.users!.rows);
    expect(detail.rows).toBe(Object.values(sourceDigests).reduce((sum, table) => sum + table.rows, 0));
  });

  it('[ASVS 11.3.2] the archive holds no plaintext, and its decrypted content keeps encrypted columns as envelopes', async () => {
    const bytes = readFileSync(archive);
    for (const canary of [CANARY_EMAIL, CANARY_SECRET, CANARY_RESPONSE]) {
      expect(bytes.includes(Buffer.from(canary)), canary).toBe(false);
    }
    // Inside the encryption the rows are as stored: an encrypted column is its envelope, in hex.
    const plaintext = [];
    for await (const piece of decryptArchive(parseKeyring(keyringOf(t.backend.env)), Readable.from([bytes]))) plaintext.push(piece);
    const content = Buffer.concat(plaintext);
    expect(content.includes(Buffer.from('"kind":"manifest"'))).toBe(true);
    for (const canary of [CANARY_EMAIL, CANARY_SECRET, CANARY_RESPONSE]) {
      expect(content.includes(Buffer.from(canary)), canary).toBe(false);
      expect(content.includes(Buffer.from(Buffer.from(canary).toString('hex'))), `${canary} as hex`).toBe(false);
    }
  });

  it('[ASVS 11.3.3] refuses a tampered, truncated, extended or foreign-key archive and writes nothing', async () => {
    const target = await emptyInstanceLike(t.backend.env);
    const bytes = readFileSync(archive);
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0x01;
    const variants: Array<[string, Buffer, Record<string, string>, RegExp]> = [
      ['flipped byte in the middle', flipped, {}, /does not authenticate/],
      ['truncated', bytes.subarray(0, bytes.length - 100), {}, /truncated/],
      ['appended bytes', Buffer.concat([bytes, Buffer.from('extra')]), {}, /follow the final frame/],
      ['wrong keyring', bytes, { ENCRYPTION_KEYRING: formatKeyring(generateKeyring()) }, /does not authenticate/],
      ['not an archive', Buffer.from('PK\u0003\u0004 a zip file'), {}, /not a ViolentUTF backup archive/],
    ];
    for (const [name, content, env, reason] of variants) {
      const file = path.join(work, `${name.replaceAll(' ', '-')}.vutfbak`);
      writeFileSync(file, content);
      const { io, lines } = captured();
      expect(await runRestore([file], { ...target.env, ...env }, io), name).toBe(1);
      expect(lines.stderr.join('\n'), name).toMatch(reason);
      expect(lines.stderr.join('\n'), name).toMatch(/nothing written/);
      expect(await target.isEmpty(), `${name} wrote something`).toBe(true);
    }
  }, 120_000);

  it('restores into an empty instance: every table identical, audit chain intact, the service works on it', async () => {
    const target = await emptyInstanceLike(t.backend.env);
    const { io, lines } = captured();
    expect(await runRestore([archive], target.env, io), lines.stderr.join('\n')).toBe(0);
    expect(lines.stdout.join('\n')).toMatch(/counts and hashes match; recorded as backup\.restored/);

    // A restore refuses a target that is not empty (now this one).
    const again = captured();
    expect(await runRestore([archive], target.env, again.io)).toBe(1);
    expect(again.lines.stderr.join('\n')).toMatch(/already (holds a database|has \d+ table)/);

    const audit = captured();
    expect(await runAuditVerify([], target.env, audit.io, { redisPrefix: `backup-${newId()}` }), audit.lines.stderr.join('\n')).toBe(0);
    expect(audit.lines.stdout.join('\n')).toMatch(/audit:verify: intact/);

    const restored = await openInstance(target.env);
    try {
      const digests = await tableDigests(restored.db, inArchive(backupTakenBefore));
      expect(Object.keys(digests).sort()).toEqual(Object.keys(sourceDigests).sort());
      for (const [name, digest] of Object.entries(sourceDigests)) expect(digests[name], name).toEqual(digest);
      expect(sourceDigests.attempts!.rows).toBeGreaterThanOrEqual(3);
      expect(sourceDigests.audit_events!.rows).toBeGreaterThan(5);
      const restoredEvents = await restored.db.selectFrom('auditEvents').select(['actorType', 'detail']).where('action', '=', 'backup.restored').execute();
      expect(restoredEvents).toHaveLength(1);
      expect(restoredEvents[0]!.actorType).toBe('system');
      expect((restoredEvents[0]!.detail as Record<string, number>).rows).toBe(Object.values(sourceDigests).reduce((sum, table) => sum + table.rows, 0));

      const app = await buildApp(restored);
      await app.ready();
      try {
        const root = await app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: BOOTSTRAP_ADMIN.email, password: BOOTSTRAP_ADMIN.password } });
        expect(root.statusCode, root.body).toBe(200);
        const token = root.json<{ accessToken: string }>().accessToken;
        const user = await app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: CANARY_EMAIL, password: PASSWORD } });
        expect(user.statusCode, user.body).toBe(200);
        const target = await app.inject({ method: 'GET', url: `/api/v1/targets/${targetId}`, headers: bearer(token) });
        expect(target.statusCode, target.body).toBe(200);
        expect(target.json<{ name: string }>().name).toBe('backed-up target');
        // The email is an envelope: reading it back decrypts with the restored keys.
        const person = await app.inject({ method: 'GET', url: `/api/v1/users/${userId}`, headers: bearer(token) });
        expect(person.statusCode, person.body).toBe(200);
        expect(person.json<{ email: string }>().email).toBe(CANARY_EMAIL);
      } finally {
        await app.close();
      }
    } finally {
      await restored.close();
    }
  }, 300_000);

  it('the command backs up an instance it opens itself (mode 0600, never over an existing file) and restores it', async () => {
    // The restored copy of the first round trip is not running: the command opens its database itself.
    const first = await emptyInstanceLike(t.backend.env);
    const restoredOnce = captured();
    expect(await runRestore([archive], first.env, restoredOnce.io), restoredOnce.lines.stderr.join('\n')).toBe(0);
    const file = path.join(work, 'by-command.vutfbak');
    const takenBefore = new Date();
    const { io, lines } = captured();
    expect(await runBackup([file], first.env, io, { redisPrefix: `backup-${newId()}` }), lines.stderr.join('\n')).toBe(0);
    expect(lines.stdout.join('\n')).toMatch(/backup: wrote .* bytes/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = captured();
    expect(await runBackup([file], first.env, again.io)).toBe(1);
    expect(again.lines.stderr.join('\n')).toMatch(/never overwritten/);

    const second = await emptyInstanceLike(t.backend.env);
    const restoredTwice = captured();
    expect(await runRestore([file], second.env, restoredTwice.io), restoredTwice.lines.stderr.join('\n')).toBe(0);
    const a = await openInstance(first.env);
    const firstDigests = await tableDigests(a.db, inArchive(takenBefore));
    await a.close();
    const b = await openInstance(second.env);
    const secondDigests = await tableDigests(b.db, inArchive(takenBefore));
    await b.close();
    expect(secondDigests).toEqual(firstDigests);
    expect(existsSync(`${file}.partial`)).toBe(false);
  }, 400_000);
});

/** The encryption keyring of an environment (embedded tests keep theirs in DATA_DIR/keys). */
function keyringOf(env: Record<string, string>): string {
  return env.ENCRYPTION_KEYRING ?? readFileSync(path.join(env.DATA_DIR!, 'keys', 'encryption-keyring'), 'utf8').trim();
}
