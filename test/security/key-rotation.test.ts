import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyName } from '../../src/config/config.schema.js';
import { keysRepo } from '../../src/modules/keys/keys.repo.js';
import { reportAuditVerify } from '../../src/ops/audit-verify.command.js';
import { createManualClock } from '../../src/platform/clock.js';
import { createFieldCipher, createKeyring, encryptedColumns } from '../../src/platform/crypto/index.js';
import { newId } from '../../src/platform/ids.js';
import { serverUrls } from '../setup/environment.js';
import { insertPlanScan, insertTarget, insertVerdicts, planProbe } from '../setup/finding-rows.js';
import { bearer, createUserWithPassword, login } from '../setup/identity-factory.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Key rotation's guarantees under stress (issue 9 §1): a corrupted envelope is a counted, located
 * failure and never stops the run; an interrupted run resumes; a write racing the sweep is not lost;
 * the evidence tables accept only the rotation's envelope rewrite; JWT and audit signing keys rotate
 * without breaking what the old version signed.
 */

const embedded = !serverUrls();
const PASSWORD = 'walnut harbour prism 4471';
const clock = createManualClock(new Date('2026-11-29T06:00:00Z'));
let t: TestApp;
let rootToken: string;
let orgId: string;
let rootId: string;

/** A new version as the mode allows: the API (embedded), or what a restart with the version added to the configuration gives (server). */
async function addVersion(kind: KeyName): Promise<number> {
  if (embedded) {
    const response = await t.app.inject({ method: 'POST', url: `/api/v1/admin/keys/${kind}/versions`, headers: bearer(rootToken) });
    expect(response.statusCode, response.body).toBe(201);
    return response.json<{ version: number }>().version;
  }
  const keyring = t.container.keys[kind];
  const version = keyring.current + 1;
  keyring.add(version, randomBytes(32));
  if (kind === 'AUDIT_SIGNING_KEY') await t.container.audit.sealer.refreshKeys();
  await keysRepo.noteVersions(t.container.db, kind, [version], clock.now());
  return version;
}

const usersOn = async (version: number) => (await keysRepo.envelopeUsage(t.container.db, 'users', 'display_name')).get(version) ?? 0;
const rotation = () => t.container.keyRotation.rotation;

beforeAll(async () => {
  t = await createTestApp({ overrides: { clock, runJobs: false } });
  rootToken = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  rootId = (await t.container.repos.users.findByEmail(t.container.db, BOOTSTRAP_ADMIN.email))!.id;
  orgId = (await sql<{ id: string }>`select id from organisations where slug = 'default'`.execute(t.container.db)).rows[0]!.id;
  for (let i = 0; i < 6; i += 1) await createUserWithPassword(t, `kr-sec-${i}@example.test`, PASSWORD, { displayName: `Person ${i}` });
}, 180_000);

afterAll(async () => {
  await t?.close();
});

describe('[ASVS 11.1.1] re-encryption is resumable, concurrent-safe and fails per row', () => {
  it('an interrupted run stops between batches and the next run continues from the envelope versions', async () => {
    const version = await addVersion('ENCRYPTION_KEYRING');
    const before = await usersOn(version - 1);
    expect(before).toBeGreaterThanOrEqual(7);
    const controller = new AbortController();
    const first = await rotation().run({
      batchSize: 2,
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.table === 'users' && progress.column === 'display_name') controller.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    expect(await usersOn(version)).toBe(2);
    expect(await usersOn(version - 1)).toBe(before - 2);
    const second = await rotation().run({ batchSize: 2 });
    expect(second).toMatchObject({ interrupted: false, failed: 0 });
    expect(await usersOn(version - 1)).toBe(0);
    expect(await usersOn(version)).toBe(before);
  });

  it('a row written while the sweep runs keeps the new value (compare-and-set, then picked up again)', async () => {
    const victim = await createUserWithPassword(t, 'kr-race@example.test', PASSWORD, { displayName: 'Before Race' });
    const version = await addVersion('ENCRYPTION_KEYRING');
    // A process that has not been restarted yet still seals with the old version: the worst case.
    const keyring = t.container.keys.ENCRYPTION_KEYRING;
    const stale = encryptedColumns(createFieldCipher(createKeyring(new Map([[version - 1, keyring.get(version - 1)]]))), 'users', { displayName: 'text' });
    let raced = false;
    const result = await rotation().run({
      batchSize: 500,
      beforeWrite: async (table, column, rows) => {
        if (raced || table !== 'users' || column !== 'display_name' || !rows.some((row) => row.id === victim)) return;
        raced = true;
        await t.container.db.updateTable('users').set(stale.seal(victim, { displayName: 'Written During Rotation' })).where('id', '=', victim).execute();
      },
    });
    expect(raced).toBe(true);
    expect(result.failed).toBe(0);
    expect(result.columns.find((c) => c.table === 'users' && c.column === 'display_name')!.conflicts).toBe(1);
    expect(await usersOn(version - 1)).toBe(0);
    const user = await t.container.repos.users.findById(t.container.db, victim);
    expect(user!.displayName).toBe('Written During Rotation');
  });

  it('[ASVS 11.2.5] a corrupted envelope is counted with its table, column and id, and the rest still rotates', async () => {
    const version = await addVersion('ENCRYPTION_KEYRING');
    const ids = await t.container.db.selectFrom('users').select(['id', 'displayName']).orderBy('id').execute();
    const broken = ids[1]!;
    const tampered = Buffer.from(broken.displayName);
    tampered[tampered.length - 1]! ^= 0x01;
    await t.container.db.updateTable('users').set({ displayName: tampered }).where('id', '=', broken.id).execute();
    const result = await rotation().run({ batchSize: 3 });
    expect(result.failed).toBe(1);
    expect(result.failures).toEqual([{ table: 'users', column: 'display_name', id: broken.id, reason: 'authentication_failed' }]);
    expect(await usersOn(version - 1)).toBe(1);
    expect(await usersOn(version)).toBe(ids.length - 1);
    // Put the row back so later cases start clean (it rotates on the next run).
    await t.container.db.updateTable('users').set({ displayName: broken.displayName }).where('id', '=', broken.id).execute();
    expect((await rotation().run()).failed).toBe(0);
    expect(await usersOn(version - 1)).toBe(0);
  });
});

describe('[ASVS 11.1.1] evidence stays immutable: only the rotation rewrites envelopes, and nothing else', () => {
  it('lets the rotation flag change envelope columns of attempts and target versions, and refuses everything else', async () => {
    const target = await insertTarget(t.container, orgId, rootId);
    const probeId = `kr.${newId()}`;
    const scanId = await insertPlanScan(t.container, orgId, rootId, target, [planProbe(probeId)]);
    const [attemptId] = await insertVerdicts(t.container, orgId, scanId, [[probeId, 'succeeded']]);
    const refused = async (statement: ReturnType<typeof sql>, flag: boolean) =>
      t.container.db
        .transaction()
        .execute(async (tx) => {
          if (flag) await sql`select set_config('vutf.key_rotation', 'on', true)`.execute(tx);
          await statement.execute(tx);
          return 'accepted';
        })
        .catch((error: unknown) => String((error as Error).message));

    expect(await refused(sql`update attempts set scores = scores where id = ${attemptId}`, false)).toMatch(/append-only evidence: UPDATE refused/);
    expect(await refused(sql`update attempts set scores = scores where id = ${attemptId}`, true)).toBe('accepted');
    expect(await refused(sql`update attempts set probe_id = 'forged', scores = scores where id = ${attemptId}`, true)).toMatch(/append-only evidence: UPDATE refused/);
    expect(await refused(sql`delete from attempts where id = ${attemptId}`, true)).toMatch(/append-only evidence: DELETE refused/);
    expect(await refused(sql`update target_versions set config = config where id = ${target.versionId}`, false)).toMatch(/immutable: UPDATE refused/);
    expect(await refused(sql`update target_versions set config = config where id = ${target.versionId}`, true)).toBe('accepted');
    expect(await refused(sql`update target_versions set kind = 'http', config = config where id = ${target.versionId}`, true)).toMatch(/immutable: UPDATE refused/);

    // And the sweep itself moves them.
    const version = await addVersion('ENCRYPTION_KEYRING');
    expect((await rotation().run()).failed).toBe(0);
    expect([...(await keysRepo.envelopeUsage(t.container.db, 'attempts', 'response')).keys()]).toEqual([version]);
    expect([...(await keysRepo.envelopeUsage(t.container.db, 'target_versions', 'config')).keys()]).toEqual([version]);
  });
});

describe('[ASVS 13.3.4] signing keys rotate without breaking what the old version signed', () => {
  it('JWT: a token signed under the old version still verifies, new tokens carry the new kid, the old version retires after the longest token lifetime', async () => {
    const old = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
    const oldKid = decodeProtectedHeader(old).kid!;
    const version = await addVersion('JWT_SIGNING_KEYS');
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(old) })).statusCode).toBe(200);
    const fresh = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
    expect(decodeProtectedHeader(fresh).kid!.startsWith(`v${version}-`)).toBe(true);
    const jwks = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(jwks.json<{ keys: Array<{ kid: string }> }>().keys.map((key) => key.kid)).toEqual(expect.arrayContaining([oldKid, decodeProtectedHeader(fresh).kid]));

    const jwtVersion = async (v: number) => {
      const status = await t.app.inject({ method: 'GET', url: '/api/v1/admin/keys', headers: bearer(fresh) });
      return status.json<{ kinds: Array<{ kind: string; versions: Array<{ version: number; retirable: boolean; reason: string | null }> }> }>().kinds.find((k) => k.kind === 'JWT_SIGNING_KEYS')!.versions.find((entry) => entry.version === v)!;
    };
    expect(await jwtVersion(version - 1)).toMatchObject({ retirable: false, reason: expect.stringMatching(/may still be valid until/) });
    clock.advance((3600 + 30 + 1) * 1000);
    const relogged = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
    rootToken = relogged;
    const status = await t.app.inject({ method: 'GET', url: '/api/v1/admin/keys', headers: bearer(relogged) });
    const v1 = status.json<{ kinds: Array<{ kind: string; versions: Array<{ version: number; retirable: boolean }> }> }>().kinds.find((k) => k.kind === 'JWT_SIGNING_KEYS')!.versions.find((entry) => entry.version === version - 1)!;
    expect(v1.retirable).toBe(true);
  });

  it('audit signing: new checkpoints are signed with the new version, its public key is registered, and audit:verify stays intact', async () => {
    await t.container.audit.sealer.sealPending({ forceCheckpoint: true });
    const version = await addVersion('AUDIT_SIGNING_KEY');
    await t.app.inject({ method: 'GET', url: '/api/v1/admin/keys', headers: bearer(rootToken) });
    const sealed = await t.container.audit.sealer.sealPending({ forceCheckpoint: true });
    expect(sealed.checkpoint?.keyVersion).toBe(version);
    const registered = await t.container.db.selectFrom('auditSigningKeys').select(['version']).execute();
    expect(registered.map((row) => Number(row.version)).sort()).toEqual([version - 1, version]);
    const versions = await t.container.db.selectFrom('auditCheckpoints').select('keyVersion').execute();
    expect(new Set(versions.map((row) => row.keyVersion))).toEqual(new Set([version - 1, version]));
    const out: string[] = [];
    const code = await reportAuditVerify(t.container.audit.verifier, t.container.audit.checkpointFile ? { checkpointFile: t.container.audit.checkpointFile } : {}, {
      stdout: (line) => out.push(line),
      stderr: (line) => out.push(line),
    });
    expect(out.join('\n')).toMatch(/^audit:verify: intact/);
    expect(code).toBe(0);
  });
});
