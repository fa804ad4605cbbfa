import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdminUnlock } from '../../src/ops/admin-unlock.command.js';
import { EXIT } from '../../src/ops/operator-command.js';
import { newId } from '../../src/platform/ids.js';
import { serverUrls } from '../setup/environment.js';
import { readAudit } from '../setup/audit-trail.js';
import { BOOTSTRAP_ADMIN, createRestartableService, createTestBackend, type TestBackend } from '../setup/test-app.js';

/**
 * `npm run admin:unlock -- <email>` (runAdminUnlock, the function behind the thin entry) against a
 * real container on the same backend as a running service: the break-glass for a locked sole
 * administrator. On the embedded database the service holds the data directory, so the command
 * must refuse while it runs and work once it is stopped; on PostgreSQL + Redis it works alongside.
 */

const MAX_FAILURES = 3;
const json = { 'content-type': 'application/json' };
const embedded = !serverUrls();
const policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-admin-unlock-'));

let backend: TestBackend;
let env: Record<string, string>;
let services: ReturnType<typeof createRestartableService> | undefined;
let seq = 0;
const freshIp = () => `192.0.2.${(++seq % 250) + 1}`;

const startService = () => services!.start();
const stopService = async () => services?.stop();

const running = () => services!.current();

/** Runs the command as an operator would: beside the service on servers, with it stopped on the embedded database. */
async function command(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  if (embedded) await stopService();
  try {
    const code = await runAdminUnlock(argv, env, { stdout: (line) => out.push(line), stderr: (line) => err.push(line) }, backend.overrides.redisPrefix ? { redisPrefix: backend.overrides.redisPrefix } : {});
    return { code, out, err };
  } finally {
    if (embedded) await startService();
  }
}

const login = (email: string, password: string) =>
  running().app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: freshIp(), headers: json, payload: { email, password } });

const unlockEventsOf = (filter: { action: 'auth.account.unlocked'; resourceId: string }) => readAudit(running(), filter);

const userByEmail = async (email: string) => (await running().container.repos.users.findByEmail(running().container.db, email))!;

beforeAll(async () => {
  const policyFile = path.join(policyDir, 'policy.yaml');
  writeFileSync(policyFile, `lockout:\n  maxFailures: ${MAX_FAILURES}\nrateLimits:\n  authentication:\n    limit: 1000\n    windowSeconds: 60\n`);
  backend = await createTestBackend();
  env = { ...backend.env, POLICY_FILE: policyFile };
  services = createRestartableService(backend, () => env);
  await startService();
}, 120_000);

afterAll(async () => {
  await stopService();
  await backend?.cleanup();
  rmSync(policyDir, { recursive: true, force: true });
});

describe('[ASVS 6.3.1] break-glass for a locked sole administrator', () => {
  it.runIf(embedded)('refuses with a clear message while the embedded service holds the data directory, changing nothing', async () => {
    const err: string[] = [];
    const code = await runAdminUnlock([BOOTSTRAP_ADMIN.email], env, { stdout: () => undefined, stderr: (line) => err.push(line) });
    expect(code).toBe(EXIT.failed);
    expect(err.join('\n')).toMatch(/data directory is in use by process \d+.*stop the service/);
  });

  it('unlocks the locked sole super-admin, who can then sign in; one output line without the address; an auth event with via break-glass', async () => {
    const { email, password } = BOOTSTRAP_ADMIN;
    expect(await running().container.repos.users.countPlatformRole(running().container.db, 'super-admin')).toBe(1);
    for (let i = 0; i < MAX_FAILURES; i++) expect((await login(email, 'wrong password entirely')).statusCode).toBe(401);
    expect((await login(email, password)).statusCode).toBe(401);

    const result = await command([email]);
    expect(result.code, result.err.join('\n')).toBe(EXIT.ok);
    const admin = await userByEmail(email);
    expect(result.out).toEqual([expect.stringContaining(`user ${admin.id}: lockout lifted`)]);
    expect(result.out[0]).not.toContain(email);
    expect(result.out[0]).not.toContain(password);

    expect((await login(email, password)).statusCode).toBe(200);
    const unlocked = await unlockEventsOf({ action: 'auth.account.unlocked', resourceId: admin.id });
    expect(unlocked).toHaveLength(1);
    // The operator's command is the system acting, not a signed-in user.
    expect(unlocked[0]).toMatchObject({ actorType: 'system', actorUserId: null, detail: { via: 'break-glass', wasLocked: true, enabled: false } });
  });

  it('records the operator action even when nothing was locked (the command is the event)', async () => {
    const admin = await userByEmail(BOOTSTRAP_ADMIN.email);
    const result = await command([BOOTSTRAP_ADMIN.email]);
    expect(result.code).toBe(EXIT.ok);
    expect(result.out).toEqual([expect.stringContaining('was not locked')]);
    const events = await unlockEventsOf({ action: 'auth.account.unlocked', resourceId: admin.id });
    expect(events.map((event) => event.detail)).toContainEqual({ via: 'break-glass', wasLocked: false, enabled: false });
  });
});

describe('disabled accounts', () => {
  it('stay disabled unless --enable is given; with it the account is active again', async () => {
    const email = 'disabled.admin@example.test';
    const userId = newId();
    const { container } = running();
    await container.db.transaction().execute((tx) =>
      container.repos.users.insert(tx, userId, { email, displayName: 'Second admin', passwordHash: null, platformRole: 'super-admin', mustChangePassword: false }, null, new Date()),
    );
    await running().container.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', userId).execute();

    const plain = await command([email]);
    expect(plain.code).toBe(EXIT.ok);
    expect(plain.out).toEqual([expect.stringContaining('stays disabled; add --enable')]);
    expect((await userByEmail(email)).status).toBe('disabled');

    const enabled = await command(['--enable', email]);
    expect(enabled.code).toBe(EXIT.ok);
    expect(enabled.out).toEqual([expect.stringContaining('re-enabled')]);
    expect((await userByEmail(email)).status).toBe('active');
    const events = await unlockEventsOf({ action: 'auth.account.unlocked', resourceId: userId });
    expect(events.map((event) => event.detail)).toContainEqual({ via: 'break-glass', wasLocked: false, enabled: true });
  });
});

describe('exit codes', () => {
  it('answers 1 for an address no account uses, changing nothing', async () => {
    const result = await command(['nobody@example.test']);
    expect(result.code).toBe(EXIT.failed);
    expect(result.out).toEqual([]);
    expect(result.err.join('\n')).toContain('no account uses this email address');
  });

  it.each([[[]], [['a@example.test', 'b@example.test']], [['--force', 'a@example.test']], [['not-an-address']]])('answers 2 with the usage for %j', async (argv) => {
    const err: string[] = [];
    expect(await runAdminUnlock(argv, env, { stdout: () => undefined, stderr: (line) => err.push(line) })).toBe(EXIT.usage);
    expect(err.join('\n')).toContain('usage: npm run admin:unlock -- <email>');
  });
});
