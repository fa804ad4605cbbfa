import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVELOPE_COLUMNS } from '../../src/modules/keys/key-registry.js';
import { keysRepo } from '../../src/modules/keys/keys.repo.js';
import { runKeysRotate } from '../../src/ops/keys-rotate.command.js';
import { normaliseEmail } from '../../src/platform/crypto/index.js';
import { newId } from '../../src/platform/ids.js';
import { readAudit } from '../setup/audit-trail.js';
import { serverUrls } from '../setup/environment.js';
import { insertPlanScan, insertTarget, insertVerdicts, planProbe } from '../setup/finding-rows.js';
import { bearer, createUserWithPassword, json, login } from '../setup/identity-factory.js';
import { BOOTSTRAP_ADMIN, createRestartableService, createTestBackend, type TestApp, type TestBackend } from '../setup/test-app.js';

/**
 * Key rotation end to end (issue 9 §1): rows written under version 1 of ENCRYPTION_KEYRING and
 * BLIND_INDEX_KEY (users, a target with credentials, a scan with attempts, a finding comment, mail and
 * its email token, an API key that was used), then version 2 is added the way the mode allows (embedded:
 * the API appends it to the key file and the running service uses it at once; server: configuration plus a
 * restart), then `npm run keys:rotate` (embedded: through the running service's API; server: its own
 * database connection beside the running service). Afterwards no row but the pinned audit columns is on
 * version 1, the failure count is 0, and the API still reads everything.
 */

const embedded = !serverUrls();
const PASSWORD = 'juniper ostrich cobalt 8812';
const ALICE = 'kr-alice@example.test';
const TARGET_KEY = 'sk-key-rotation-target-secret-0123456789';
const COMMENT = 'rotation comment: the model leaked the system prompt';

let backend: TestBackend;
let env: Record<string, string>;
let services: ReturnType<typeof createRestartableService> | undefined;
const startService = () => services!.start();
const stopService = async () => services?.stop();
const t = (): TestApp => services!.current();

/** Envelope key versions of one column, straight from SQL. */
const usageOf = (table: string, column: string) => keysRepo.envelopeUsage(t().container.db, table, column);

let rootToken: string;
let aliceId: string;
let targetId: string;
let findingId: string;
let apiKey: string;

async function seed() {
  const app = t();
  aliceId = await createUserWithPassword(app, ALICE, PASSWORD, { displayName: 'Alice Rotation' });
  rootToken = (await login(app, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  const rootId = (await app.container.repos.users.findByEmail(app.container.db, BOOTSTRAP_ADMIN.email))!.id;
  const orgId = (await sql<{ id: string }>`select id from organisations where slug = 'default'`.execute(app.container.db)).rows[0]!.id;

  const target = await app.app.inject({
    method: 'POST',
    url: '/api/v1/targets',
    headers: { ...bearer(rootToken), ...json },
    payload: { name: 'rotation llm', kind: 'openai-chat', config: { baseUrl: 'https://llm.example.test/v1', model: 'm' }, credentials: { apiKey: TARGET_KEY } },
  });
  expect(target.statusCode, target.body).toBe(201);
  targetId = target.json<{ id: string }>().id;

  // A scan with attempts (evidence) and a finding derived from them, then a triage comment.
  const simTarget = await insertTarget(app.container, orgId, rootId);
  const probeId = `rotation.${newId()}`;
  const scanId = await insertPlanScan(app.container, orgId, rootId, simTarget, [planProbe(probeId)]);
  await insertVerdicts(app.container, orgId, scanId, [[probeId, 'succeeded']]);
  await app.container.findings.deriver.deriveScan(orgId, scanId);
  findingId = (await app.container.db.selectFrom('findings').select('id').where('targetId', '=', simTarget.id).executeTakeFirstOrThrow()).id;
  const comment = await app.app.inject({ method: 'POST', url: `/api/v1/findings/${findingId}/comments`, headers: { ...bearer(rootToken), ...json }, payload: { body: COMMENT } });
  expect(comment.statusCode, comment.body).toBe(201);

  // Mail and its email token.
  const reset = await app.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', headers: json, payload: { email: ALICE }, remoteAddress: '198.51.100.7' });
  expect(reset.statusCode, reset.body).toBe(202);

  // An API key, used once (last_used_ip is an envelope).
  const created = await app.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...bearer(rootToken), ...json }, payload: { name: 'rotation', scopes: ['targets:read'] } });
  expect(created.statusCode, created.body).toBe(201);
  apiKey = created.json<{ key: string }>().key;
  const used = await app.app.inject({ method: 'GET', url: `/api/v1/targets/${targetId}`, headers: { 'x-api-key': apiKey }, remoteAddress: '198.51.100.8' });
  expect(used.statusCode, used.body).toBe(200);
}

const NEEDED = ['users.email', 'users.display_name', 'target_versions.config', 'target_versions.credentials', 'scans.plan', 'attempts.prompt_original', 'attempts.response', 'finding_comments.body', 'mail_outbox.recipient', 'mail_outbox.body', 'email_tokens.email', 'api_keys.last_used_ip', 'audit_events.client_ip'];

/** Adds version 2 of both data keys as the mode allows. */
async function addVersion2(): Promise<void> {
  if (embedded) {
    for (const kind of ['ENCRYPTION_KEYRING', 'BLIND_INDEX_KEY']) {
      const response = await t().app.inject({ method: 'POST', url: `/api/v1/admin/keys/${kind}/versions`, headers: bearer(rootToken) });
      expect(response.statusCode, response.body).toBe(201);
      expect(response.json()).toEqual({ kind, version: 2 });
    }
    return;
  }
  const refused = await t().app.inject({ method: 'POST', url: '/api/v1/admin/keys/ENCRYPTION_KEYRING/versions', headers: bearer(rootToken) });
  expect(refused.statusCode).toBe(409);
  expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(refused.json<{ code: string; detail: string }>()).toMatchObject({ code: 'key_from_configuration' });
  expect(refused.json<{ detail: string }>().detail).toMatch(/every process.*restart.*keys:rotate/);
  // The documented procedure: the new version in the configuration of every process, then a restart.
  for (const kind of ['ENCRYPTION_KEYRING', 'BLIND_INDEX_KEY']) env[kind] = `${env[kind]},2:${randomBytes(32).toString('base64')}`;
  await stopService();
  await startService();
  rootToken = (await login(t(), BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
}

beforeAll(async () => {
  backend = await createTestBackend();
  env = { ...backend.env };
  services = createRestartableService(backend, () => env);
  await startService();
  await seed();
}, 180_000);

afterAll(async () => {
  await stopService();
  await backend?.cleanup();
});

describe('[ASVS 11.1.1] [ASVS 13.3.4] key rotation: add a version, re-encrypt every row, nothing lost', () => {
  it('starts with every seeded envelope column on version 1', async () => {
    for (const name of NEEDED) {
      const [table, column] = name.split('.') as [string, string];
      const usage = await usageOf(table, column);
      expect([...usage.keys()], name).toEqual([1]);
    }
  });

  it('uses a newly added version for new data at once', async () => {
    await addVersion2();
    expect(t().container.keys.ENCRYPTION_KEYRING.current).toBe(2);
    const bobId = await createUserWithPassword(t(), 'kr-bob@example.test', PASSWORD);
    const { rows } = await sql<{ version: number }>`select get_byte(email, 4) as version from users where id = ${bobId}`.execute(t().container.db);
    expect(rows[0]!.version).toBe(2);
    // Lookups still find rows indexed under version 1 before the sweep (every version is tried).
    expect((await login(t(), ALICE, PASSWORD)).accessToken).toBeTruthy();
  });

  it('keys:rotate moves every row off version 1 (except pinned audit columns) with 0 failures', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (line: string) => out.push(line), stderr: (line: string) => err.push(line) };
    let code: number;
    if (embedded) {
      // The service holds the data directory: the command must go through its API.
      const address = await t().app.listen({ port: 0, host: '127.0.0.1' });
      code = await runKeysRotate([], { ...env, VIOLENTUTF_URL: address, VIOLENTUTF_API_KEY: rootToken }, io, {}, () => new Promise((resolve) => setTimeout(resolve, 50)));
      expect(out.join('\n')).toMatch(/started inside it/);
    } else {
      code = await runKeysRotate(['--batch-size', '2'], env, io, { redisPrefix: backend.overrides.redisPrefix! });
    }
    expect(err.filter((line) => line.startsWith('keys:rotate')), out.join('\n')).toEqual([]);
    expect(code, [...out, ...err].join('\n')).toBe(0);
    expect(out.some((line) => /ENCRYPTION_KEYRING users\.email: examined \d+, rotated [1-9]/.test(line))).toBe(true);
    expect(out.some((line) => /pinned ENCRYPTION_KEYRING audit_events\.client_ip/.test(line))).toBe(true);
    expect(out.at(-1)).toMatch(/done: encryption version 2, blind-index version 2; rotated [1-9]\d*, conflicts 0, failures 0$/);

    for (const entry of ENVELOPE_COLUMNS) {
      const usage = await usageOf(entry.table, entry.column);
      if (entry.pinned) continue;
      expect(usage.get(1) ?? 0, `${entry.table}.${entry.column}`).toBe(0);
    }
    for (const name of NEEDED.filter((n) => !n.startsWith('audit_events'))) {
      const [table, column] = name.split('.') as [string, string];
      expect((await usageOf(table, column)).get(2), name).toBeGreaterThan(0);
    }
    // Pinned: the audit chain hashes these envelopes, so they stay on version 1.
    expect((await usageOf('audit_events', 'client_ip')).get(1)).toBeGreaterThan(0);

    const [event] = await readAudit(t(), { action: 'keys.rotation.completed' });
    expect(event).toMatchObject({ outcome: 'success', orgId: null });
    expect(event!.detail).toMatchObject({ failed: 0, encryptionVersion: 2, blindIndexVersion: 2, interrupted: false });
    expect(Number(event!.detail.rotated)).toBeGreaterThan(10);
  });

  it('re-indexes blind indexes whose plaintext it can open, and the API still reads everything', async () => {
    const c = t().container;
    const user = await c.db.selectFrom('users').select(['emailIndex']).where('id', '=', aliceId).executeTakeFirstOrThrow();
    expect(Buffer.from(user.emailIndex).equals(c.blindIndex.compute(normaliseEmail(ALICE), 'users.email'))).toBe(true);
    const mail = await c.db.selectFrom('mailOutbox').select(['recipientIndex']).executeTakeFirstOrThrow();
    expect(Buffer.from(mail.recipientIndex).equals(c.blindIndex.compute(normaliseEmail(ALICE), 'mail.recipient'))).toBe(true);

    const token = (await login(t(), ALICE, PASSWORD)).accessToken;
    const me = await t().app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
    expect(me.json<{ email: string; displayName: string }>()).toMatchObject({ email: ALICE, displayName: 'Alice Rotation' });
    const comments = await t().app.inject({ method: 'GET', url: `/api/v1/findings/${findingId}/comments`, headers: bearer(rootToken) });
    expect(comments.statusCode, comments.body).toBe(200);
    expect(comments.body).toContain(COMMENT);
    const target = await t().app.inject({ method: 'GET', url: `/api/v1/targets/${targetId}`, headers: { 'x-api-key': apiKey } });
    expect(target.statusCode, target.body).toBe(200);
    // One-way: the API key's hash moved to the current version when the key was presented.
    const key = await c.db.selectFrom('apiKeys').select(['secretHash']).executeTakeFirstOrThrow();
    expect(Buffer.from(key.secretHash).equals(c.blindIndex.compute(apiKey, 'api-keys.secret'))).toBe(true);
    // The sealed credential still opens for the send path.
    const version = await c.db.selectFrom('targetVersions').select(['id']).where('targetId', '=', targetId).executeTakeFirstOrThrow();
    expect((await usageOf('target_versions', 'credentials')).get(2)).toBeGreaterThan(0);
    expect(version.id).toBeTruthy();
  });

  it('GET /admin/keys reports versions, usage and why version 1 is not retirable yet (never key material)', async () => {
    const response = await t().app.inject({ method: 'GET', url: '/api/v1/admin/keys', headers: bearer(rootToken) });
    expect(response.statusCode, response.body).toBe(200);
    const kinds = response.json<{ kinds: Array<{ kind: string; source: string; current: number; versions: Array<{ version: number; retirable: boolean; reason: string | null; usage: Array<{ table: string; rows: number }> }> }> }>().kinds;
    const encryption = kinds.find((k) => k.kind === 'ENCRYPTION_KEYRING')!;
    expect(encryption).toMatchObject({ current: 2, source: embedded ? 'data-dir' : 'configuration' });
    const v1 = encryption.versions.find((v) => v.version === 1)!;
    expect(v1.retirable).toBe(false);
    expect(v1.reason).toMatch(/^only pinned rows use it/);
    expect(new Set(v1.usage.map((u) => u.table))).toEqual(new Set(['audit_events']));
    const blind = kinds.find((k) => k.kind === 'BLIND_INDEX_KEY')!;
    const b1 = blind.versions.find((v) => v.version === 1)!;
    expect(b1.usage).toEqual([]);
    expect(b1.retirable).toBe(false);
    expect(b1.reason).toMatch(/api_keys\.secret_hash/);
    for (const secret of [...t().container.keys.ENCRYPTION_KEYRING.versions.values()].map((k) => k.toString('base64'))) expect(response.body).not.toContain(secret);
    const [read] = await readAudit(t(), { action: 'keys.status.read' });
    expect(read).toMatchObject({ outcome: 'success' });
  });
});
