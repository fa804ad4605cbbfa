import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createContainer, type Container } from '../../src/container.js';
import { BootstrapError, createBootstrapService, INITIAL_PASSWORD_FILE } from '../../src/modules/users/bootstrap.service.js';
import { loadPasswordBlocklist } from '../../src/modules/auth/password-blocklist.js';
import { createPasswordPolicy } from '../../src/modules/auth/password-policy.js';
import { createZxcvbnEstimator } from '../../src/modules/auth/password-policy-strength.js';
import { systemClock } from '../../src/platform/clock.js';
import { createLogger } from '../../src/platform/logger.js';
import { serverUrls, uniqueName } from '../setup/environment.js';
import { createTestBackend, testKeysEnv, type TestBackend } from '../setup/test-app.js';

/**
 * First start (DESIGN §7): with no platform super-admin the service creates one, owner of a
 * "default" organisation; embedded mode without bootstrap values writes a generated one-time
 * password to DATA_DIR/initial-admin-password (0600, only the path logged); server mode refuses.
 */
const BOOTSTRAP_PASSWORD = 'correct horse battery staple 42';
const DEFAULT_ADMIN = 'admin@localhost';

interface Started {
  container: Container;
  /** Every log line the container wrote, as raw text (what an operator's log collector sees). */
  lines: string[];
}

const opened = new Set<Container>();
const backends: TestBackend[] = [];

/**
 * Starts a container on `backend` with exactly `env` (no bootstrap values unless given).
 * `seed` loads the migrated snapshot into a new embedded data dir: only the first start does.
 */
async function start(backend: TestBackend, env: Record<string, string>, seed: boolean): Promise<Started> {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  const { BOOTSTRAP_ADMIN_EMAIL: _email, BOOTSTRAP_ADMIN_PASSWORD: _password, ...base } = backend.env;
  const config = loadConfig({ ...base, ...env });
  const container = await createContainer(config, {
    logger,
    ...(backend.overrides.redisPrefix ? { redisPrefix: backend.overrides.redisPrefix } : {}),
    ...(seed && backend.overrides.loadDataDir ? { loadDataDir: backend.overrides.loadDataDir } : {}),
  });
  opened.add(container);
  return { container, lines };
}

async function stop(container: Container) {
  opened.delete(container);
  await container.close();
}

/**
 * A fresh backend for the current run: embedded, or with DATABASE_URL/REDIS_URL a database of
 * its own. A database rather than a schema: this file needs several first starts, and Kysely's
 * migrator takes a `schema_migrations` table in any visible schema as its own, so a second
 * migrated schema in the same database fails to migrate ("schema_migrations_lock does not exist").
 */
async function backend(): Promise<TestBackend> {
  const server = serverUrls();
  if (!server) {
    const created = await createTestBackend();
    backends.push(created);
    return created;
  }
  const database = uniqueName('bootstrap');
  const admin = new pg.Client({ connectionString: server.databaseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server.databaseUrl);
  url.pathname = `/${database}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-bootstrap-'));
  const created: TestBackend = {
    env: { DATA_DIR: dataDir, NODE_ENV: 'test', LOG_LEVEL: 'silent', ...testKeysEnv(), DATABASE_URL: url.toString(), REDIS_URL: server.redisUrl },
    overrides: { redisPrefix: database },
    async cleanup() {
      const client = new pg.Client({ connectionString: server.databaseUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      } finally {
        await client.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  backends.push(created);
  return created;
}

/** Always embedded, whatever the run: the generated-password path exists only there. */
function embeddedBackend(): TestBackend {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-bootstrap-'));
  const created: TestBackend = {
    env: { DATA_DIR: dataDir, NODE_ENV: 'test', LOG_LEVEL: 'silent' },
    overrides: { loadDataDir: new Blob([readFileSync(inject('pgliteSnapshotPath'))]) },
    cleanup: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
  };
  backends.push(created);
  return created;
}

afterAll(async () => {
  // Every container and backend is released even when one of them fails to close.
  const results = await Promise.allSettled([...opened].map((container) => container.close()));
  results.push(...(await Promise.allSettled(backends.map((created) => created.cleanup()))));
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
});

const modeOf = (file: string) => statSync(file).mode & 0o777;

async function adminOf(container: Container, email: string) {
  const user = await container.repos.users.findByEmail(container.db, email);
  expect(user).toBeDefined();
  const memberships = await container.repos.memberships.listForUser(container.db, user!.id);
  const orgs = await container.db.selectFrom('organisations').select(['id', 'slug', 'name']).execute();
  return { user: user!, memberships, orgs };
}

const superAdmins = (container: Container) => container.repos.users.countPlatformRole(container.db, 'super-admin');

describe('embedded first start without bootstrap values', () => {
  let first: Started;
  let dataDir: string;
  let passwordFile: string;
  let stored: TestBackend;

  beforeAll(async () => {
    stored = embeddedBackend();
    dataDir = stored.env.DATA_DIR!;
    passwordFile = path.join(dataDir, INITIAL_PASSWORD_FILE);
    first = await start(stored, {}, true);
  });

  it('creates one platform super-admin that must change its password, owner of the "default" organisation', async () => {
    const { user, memberships, orgs } = await adminOf(first.container, DEFAULT_ADMIN);
    expect(user.email).toBe(DEFAULT_ADMIN);
    expect(user.platformRole).toBe('super-admin');
    expect(user.mustChangePassword).toBe(true);
    expect(await superAdmins(first.container)).toBe(1);
    expect(orgs).toHaveLength(1);
    expect(orgs[0]!.slug).toBe('default');
    expect(memberships).toEqual([{ orgId: orgs[0]!.id, role: 'owner', rawContent: false }]);
  });

  it('writes the generated password to DATA_DIR/initial-admin-password (0600), matching the stored hash', async () => {
    expect(modeOf(passwordFile)).toBe(0o600);
    const password = readFileSync(passwordFile, 'utf8').trim();
    expect([...password].length).toBeGreaterThanOrEqual(first.container.policy.current().password.minLength);
    const { user } = await adminOf(first.container, DEFAULT_ADMIN);
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await first.container.passwordHasher.verify(user.passwordHash!, password)).toBe(true);
    expect(await first.container.passwordHasher.verify(user.passwordHash!, `${password}x`)).toBe(false);
  });

  it('logs the path of the password file, never the password', () => {
    const password = readFileSync(passwordFile, 'utf8').trim();
    const announcements = first.lines.map((line) => JSON.parse(line) as { passwordFile?: string; msg: string }).filter((line) => line.passwordFile);
    expect(announcements).toEqual([expect.objectContaining({ passwordFile, msg: expect.stringContaining(DEFAULT_ADMIN) })]);
    expect(first.lines.length).toBeGreaterThan(1);
    for (const line of first.lines) expect(line).not.toContain(password);
  });

  it('does nothing on the next start: no second admin, the password file untouched', async () => {
    const content = readFileSync(passwordFile, 'utf8');
    const { mtimeMs } = statSync(passwordFile);
    const { user: before } = await adminOf(first.container, DEFAULT_ADMIN);
    await stop(first.container);

    // Same DATA_DIR, no snapshot: the database, keys and admin from the first start are reused.
    const second = await start(stored, {}, false);
    try {
      expect(await superAdmins(second.container)).toBe(1);
      const { user: after, orgs } = await adminOf(second.container, DEFAULT_ADMIN);
      expect(after.id).toBe(before.id);
      expect(orgs).toHaveLength(1);
      expect(readFileSync(passwordFile, 'utf8')).toBe(content);
      expect(statSync(passwordFile).mtimeMs).toBe(mtimeMs);
      expect(second.lines.filter((line) => line.includes('created the platform admin'))).toEqual([]);
    } finally {
      await stop(second.container);
    }
  });
});

describe('embedded first start with a stale password file', () => {
  it('rewrites it with the new password and tightens it to 0600', async () => {
    const stored = embeddedBackend();
    const passwordFile = path.join(stored.env.DATA_DIR!, INITIAL_PASSWORD_FILE);
    writeFileSync(passwordFile, 'left over from an earlier installation\n');
    chmodSync(passwordFile, 0o644);
    const { container } = await start(stored, {}, true);
    try {
      expect(modeOf(passwordFile)).toBe(0o600);
      const password = readFileSync(passwordFile, 'utf8').trim();
      const { user } = await adminOf(container, DEFAULT_ADMIN);
      expect(await container.passwordHasher.verify(user.passwordHash!, password)).toBe(true);
    } finally {
      await stop(container);
    }
  });
});

describe('embedded first start with only BOOTSTRAP_ADMIN_EMAIL', () => {
  it('creates that admin with a generated password in the file', async () => {
    const stored = embeddedBackend();
    const { container, lines } = await start(stored, { BOOTSTRAP_ADMIN_EMAIL: 'ops@example.test' }, true);
    try {
      const { user } = await adminOf(container, 'ops@example.test');
      expect(user.mustChangePassword).toBe(true);
      expect(await container.repos.users.findByEmail(container.db, DEFAULT_ADMIN)).toBeUndefined();
      const passwordFile = path.join(stored.env.DATA_DIR!, INITIAL_PASSWORD_FILE);
      expect(await container.passwordHasher.verify(user.passwordHash!, readFileSync(passwordFile, 'utf8').trim())).toBe(true);
      // The announcement names the admin actually created.
      expect(lines.find((line) => line.includes(passwordFile))).toContain('ops@example.test');
    } finally {
      await stop(container);
    }
  });
});

describe('first start with BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD', () => {
  let stored: TestBackend;
  let first: Started;
  const env = { BOOTSTRAP_ADMIN_EMAIL: 'Root@Example.test', BOOTSTRAP_ADMIN_PASSWORD: BOOTSTRAP_PASSWORD };

  beforeAll(async () => {
    stored = await backend();
    first = await start(stored, env, true);
  });

  it('creates that admin with that password, no password file, no forced change', async () => {
    const { user, memberships, orgs } = await adminOf(first.container, 'root@example.test');
    expect(user.platformRole).toBe('super-admin');
    expect(user.mustChangePassword).toBe(false);
    expect(await first.container.passwordHasher.verify(user.passwordHash!, BOOTSTRAP_PASSWORD)).toBe(true);
    expect(orgs.map((org) => org.slug)).toEqual(['default']);
    expect(memberships).toEqual([{ orgId: orgs[0]!.id, role: 'owner', rawContent: false }]);
    expect(await first.container.repos.users.findByEmail(first.container.db, DEFAULT_ADMIN)).toBeUndefined();
    expect(existsSync(path.join(stored.env.DATA_DIR!, INITIAL_PASSWORD_FILE))).toBe(false);
    expect(first.lines.some((line) => line.includes('created the platform admin from BOOTSTRAP_ADMIN_EMAIL'))).toBe(true);
    for (const line of first.lines) expect(line).not.toContain(BOOTSTRAP_PASSWORD);
  });

  it('stores email and display name encrypted: the raw columns hold no plaintext', async () => {
    const { rows } = await sql<{ e: Buffer; d: Buffer; i: Buffer }>`select email as e, display_name as d, email_index as i from users`.execute(
      first.container.db,
    );
    expect(rows).toHaveLength(1);
    const { e, d, i } = rows[0]!;
    for (const column of [e, d, i]) {
      expect(Buffer.isBuffer(column)).toBe(true);
      for (const plaintext of ['Root@Example.test', 'root@example.test', 'Example.test', 'example.test', 'Platform administrator']) {
        expect(column.includes(Buffer.from(plaintext, 'utf8'))).toBe(false);
        expect(column.includes(Buffer.from(plaintext, 'utf16le'))).toBe(false);
      }
    }
    // ...and the repository still reads it back.
    expect((await adminOf(first.container, 'root@example.test')).user.displayName).toBe('Platform administrator');
  });

  it('does nothing on the next start, even with other bootstrap values', async () => {
    const { user: before } = await adminOf(first.container, 'root@example.test');
    await stop(first.container);
    const second = await start(stored, { BOOTSTRAP_ADMIN_EMAIL: 'other@example.test', BOOTSTRAP_ADMIN_PASSWORD: `${BOOTSTRAP_PASSWORD} changed` }, false);
    try {
      expect(await superAdmins(second.container)).toBe(1);
      expect(await second.container.repos.users.findByEmail(second.container.db, 'other@example.test')).toBeUndefined();
      const { user: after } = await adminOf(second.container, 'root@example.test');
      expect(after.id).toBe(before.id);
      expect(after.passwordHash).toBe(before.passwordHash);
    } finally {
      await stop(second.container);
    }
  });
});

describe('a bootstrap password shorter than the policy minimum', () => {
  const short = 'fourteen chars'; // 14 characters: one below the default minimum of 15

  it('is refused with BootstrapError, leaving nothing behind, and a valid start works afterwards', async () => {
    expect([...short]).toHaveLength(14);
    const stored = await backend();
    const failed = start(stored, { BOOTSTRAP_ADMIN_EMAIL: 'root@example.test', BOOTSTRAP_ADMIN_PASSWORD: short }, true);
    await expect(failed).rejects.toThrow(BootstrapError);
    await expect(failed).rejects.toThrow(/password_too_short.*at least 15 characters/);

    // The failed start released everything (embedded: the data-dir lock) and created no user.
    const next = await start(stored, { BOOTSTRAP_ADMIN_EMAIL: 'root@example.test', BOOTSTRAP_ADMIN_PASSWORD: BOOTSTRAP_PASSWORD }, false);
    try {
      expect(await superAdmins(next.container)).toBe(1);
      const { user } = await adminOf(next.container, 'root@example.test');
      expect(await next.container.passwordHasher.verify(user.passwordHash!, BOOTSTRAP_PASSWORD)).toBe(true);
    } finally {
      await stop(next.container);
    }
  });

  it('counts characters (code points), not UTF-16 units', async () => {
    const keys = '🔑'.repeat(14); // 14 characters, 28 UTF-16 units, 56 bytes
    const stored = await backend();
    await expect(start(stored, { BOOTSTRAP_ADMIN_EMAIL: 'root@example.test', BOOTSTRAP_ADMIN_PASSWORD: keys }, true)).rejects.toThrow(BootstrapError);
  });

  it('takes the minimum from the policy file', async () => {
    const stored = await backend();
    const policyFile = path.join(stored.env.DATA_DIR!, 'policy.yaml');
    writeFileSync(policyFile, 'password:\n  minLength: 12\n');
    // 12 characters, random enough for the strength rule (the policy applies whole, not only its length).
    const { container } = await start(stored, { POLICY_FILE: policyFile, BOOTSTRAP_ADMIN_EMAIL: 'root@example.test', BOOTSTRAP_ADMIN_PASSWORD: 'qk7!Vz2#rP9w' }, true);
    try {
      expect(await superAdmins(container)).toBe(1);
    } finally {
      await stop(container);
    }
  });
});

describe('[ASVS 6.4.1] a bootstrap password the password policy refuses', () => {
  const root = 'root@example.test';

  it.each([
    ['blocklisted', 'films+pic+galeries', 'password_blocklisted'],
    ['too weak', 'passwordpassword', 'password_too_weak'],
    ['identity-derived', 'rootpassword12345', 'password_contains_identity'],
  ])('refuses the %s password at start, naming the rule and never the password, and creates nothing', async (_label, password, rule) => {
    const stored = await backend();
    const failed = start(stored, { BOOTSTRAP_ADMIN_EMAIL: root, BOOTSTRAP_ADMIN_PASSWORD: password }, true);
    await expect(failed).rejects.toThrow(BootstrapError);
    const error = (await failed.catch((caught: unknown) => caught)) as Error;
    expect(error.message).toContain(rule);
    expect(error.message).toContain('BOOTSTRAP_ADMIN_PASSWORD');
    expect(error.message).not.toContain(password);

    // Nothing was written: the next start with a good password creates the one admin.
    const next = await start(stored, { BOOTSTRAP_ADMIN_EMAIL: root, BOOTSTRAP_ADMIN_PASSWORD: BOOTSTRAP_PASSWORD }, false);
    try {
      expect(await superAdmins(next.container)).toBe(1);
      const { user } = await adminOf(next.container, root);
      expect(await next.container.passwordHasher.verify(user.passwordHash!, BOOTSTRAP_PASSWORD)).toBe(true);
    } finally {
      await stop(next.container);
    }
  });

  it('checks the display name too: a password containing "administrator" is refused', async () => {
    const stored = await backend();
    await expect(start(stored, { BOOTSTRAP_ADMIN_EMAIL: root, BOOTSTRAP_ADMIN_PASSWORD: 'Administrator-Kx93-Vq71-Lm' }, true)).rejects.toThrow(/password_contains_identity/);
  });
});

describe.runIf(serverUrls())('server mode without bootstrap values', () => {
  it('refuses to start while no admin exists, and starts once one does', async () => {
    const stored = await backend();
    await expect(start(stored, {}, true)).rejects.toThrow(BootstrapError);

    const withValues = await start(stored, { BOOTSTRAP_ADMIN_EMAIL: 'root@example.test', BOOTSTRAP_ADMIN_PASSWORD: BOOTSTRAP_PASSWORD }, true);
    await stop(withValues.container);
    const again = await start(stored, {}, false);
    try {
      expect(await superAdmins(again.container)).toBe(1);
      expect(existsSync(path.join(stored.env.DATA_DIR!, INITIAL_PASSWORD_FILE))).toBe(false);
    } finally {
      await stop(again.container);
    }
  });
});

describe('ensureAdmin in server mode (service with fakes)', () => {
  const fakes = (superAdminCount: number) => {
    const tx = {};
    const deps = {
      db: { transaction: () => ({ execute: (work: (trx: unknown) => Promise<void>) => work(tx) }) },
      usersRepo: {
        countPlatformRole: vi.fn(() => Promise.resolve(superAdminCount)),
        insert: vi.fn(() => Promise.resolve({})),
        findByEmail: vi.fn(() => Promise.resolve(undefined)),
      },
      orgsRepo: { insert: vi.fn(() => Promise.resolve({ id: 'org-1' })) },
      membershipsRepo: { insert: vi.fn(() => Promise.resolve({})) },
      passwordHasher: { hash: vi.fn((password: string) => Promise.resolve(`hashed:${password}`)) },
      passwordPolicy: createPasswordPolicy({
        blocklist: loadPasswordBlocklist(),
        policy: () => ({ minLength: 15, minLengthWithMfa: 8, maxLength: 128, minStrengthScore: 3 }),
        strength: createZxcvbnEstimator(),
      }),
      clock: systemClock,
      logger: { info: vi.fn(), warn: vi.fn() },
    };
    return { deps, service: createBootstrapService(deps as unknown as Parameters<typeof createBootstrapService>[0]) };
  };
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-bootstrap-fake-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses to start with no admin and no bootstrap values, writing nothing', async () => {
    const { deps, service } = fakes(0);
    const result = service.ensureAdmin({ mode: 'server', dataDir, admin: undefined });
    await expect(result).rejects.toThrow(BootstrapError);
    await expect(result).rejects.toThrow(/BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD/);
    expect(deps.passwordHasher.hash).not.toHaveBeenCalled();
    expect(deps.usersRepo.insert).not.toHaveBeenCalled();
    expect(existsSync(path.join(dataDir, INITIAL_PASSWORD_FILE))).toBe(false);
  });

  it('starts when an admin already exists, creating nothing', async () => {
    const { deps, service } = fakes(1);
    await service.ensureAdmin({ mode: 'server', dataDir, admin: undefined });
    expect(deps.usersRepo.insert).not.toHaveBeenCalled();
    expect(deps.orgsRepo.insert).not.toHaveBeenCalled();
  });

  it('creates the configured admin without a forced change and without a password file', async () => {
    const { deps, service } = fakes(0);
    await service.ensureAdmin({ mode: 'server', dataDir, admin: { email: 'root@example.test', password: BOOTSTRAP_PASSWORD } });
    expect(deps.passwordHasher.hash).toHaveBeenCalledWith(BOOTSTRAP_PASSWORD);
    expect(deps.usersRepo.insert).toHaveBeenCalledWith(
      expect.anything(),
      expect.any(String),
      { email: 'root@example.test', displayName: 'Platform administrator', passwordHash: `hashed:${BOOTSTRAP_PASSWORD}`, platformRole: 'super-admin', mustChangePassword: false },
      null,
      expect.any(Date),
    );
    expect(deps.orgsRepo.insert).toHaveBeenCalledWith(expect.anything(), expect.any(String), { name: 'Default organisation', slug: 'default' }, expect.any(String), expect.any(Date));
    expect(deps.membershipsRepo.insert).toHaveBeenCalledWith(
      expect.anything(),
      expect.any(String),
      { orgId: 'org-1', userId: expect.any(String), role: 'owner' },
      expect.any(String),
      expect.any(Date),
    );
    expect(existsSync(path.join(dataDir, INITIAL_PASSWORD_FILE))).toBe(false);
  });

  it.each([
    ['short', 'x'.repeat(14), 'password_too_short'],
    ['blocklisted', 'films+pic+galeries', 'password_blocklisted'],
    ['weak', 'aaaaaaaaaaaaaaaaaaaa', 'password_too_weak'],
  ])('refuses a %s password before hashing or writing anything', async (_label, password, rule) => {
    const { deps, service } = fakes(0);
    const refused = await service.ensureAdmin({ mode: 'server', dataDir, admin: { email: 'root@example.test', password } }).catch((error: unknown) => error as Error);
    expect(refused).toBeInstanceOf(BootstrapError);
    expect((refused as Error).message.startsWith(`BOOTSTRAP_ADMIN_PASSWORD is refused by the password policy (${rule})`)).toBe(true);
    expect(deps.passwordHasher.hash).not.toHaveBeenCalled();
    expect(deps.usersRepo.insert).not.toHaveBeenCalled();
  });

  it('does not hold a generated password to the policy check (it is random and must be changed at first login)', async () => {
    const { deps, service } = fakes(0);
    const check = vi.spyOn(deps.passwordPolicy, 'check');
    await service.ensureAdmin({ mode: 'embedded', dataDir, admin: undefined });
    expect(check).not.toHaveBeenCalled();
    expect(deps.usersRepo.insert).toHaveBeenCalledWith(expect.anything(), expect.any(String), expect.objectContaining({ mustChangePassword: true }), null, expect.any(Date));
    rmSync(path.join(dataDir, INITIAL_PASSWORD_FILE), { force: true });
  });
});
