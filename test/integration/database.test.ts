import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hostname } from 'node:os';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/platform/db/database.js';
import { DataDirLockedError, acquireDataDirLock, lockHolder } from '../../src/platform/db/data-dir-lock.js';
import { DatabaseBusyError } from '../../src/platform/db/session-mutex.js';
import { migrateToLatest } from '../../src/platform/db/migrator.js';
import { isIntegrityError } from '../../src/platform/crypto/index.js';
import { serverUrls, uniqueName } from '../setup/environment.js';
import { createTestApp, createTestBackend, createTestUser, type TestApp } from '../setup/test-app.js';

/**
 * The embedded database through our own dialect (DESIGN §3: kysely-pglite interleaved
 * transactions and always reported 0 affected rows), the data-directory lock, and what
 * actually lands on disk for encrypted columns.
 */
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vutf-db-'));
  dirs.push(dir);
  return dir;
};
const noBreaker = { run: <T>(fn: () => Promise<T>) => fn() };
const snapshot = () => new Blob([readFileSync(inject('pgliteSnapshotPath'))]);
const open = (dataDir: string, options: { acquireTimeoutMs?: number; fromSnapshot?: boolean } = {}) =>
  openDatabase({
    mode: 'embedded',
    dataDir,
    databaseUrl: undefined,
    poolMax: 1,
    statementTimeoutMs: 5000,
    acquireTimeoutMs: options.acquireTimeoutMs ?? 2000,
    breaker: noBreaker,
    logger: { warn: () => undefined },
    // initdb takes seconds; start from the migrated snapshot unless the test needs a blank database.
    ...(options.fromSnapshot === false ? {} : { loadDataDir: snapshot() }),
  });

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('PGlite dialect', () => {
  let handle: DatabaseHandle;
  beforeAll(async () => {
    handle = await open(tempDir(), { acquireTimeoutMs: 300 });
    await sql`create table items (id int primary key, label text not null)`.execute(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
  });
  const db = () => handle.db as unknown as Kysely<{ items: { id: number; label: string } }>;

  it('reports affected rows for insert, update and delete', async () => {
    const inserted = await db().insertInto('items').values([{ id: 1, label: 'a' }, { id: 2, label: 'b' }]).executeTakeFirst();
    expect(inserted.numInsertedOrUpdatedRows).toBe(2n);
    const updated = await db().updateTable('items').set({ label: 'z' }).where('id', '>', 0).executeTakeFirst();
    expect(updated.numUpdatedRows).toBe(2n);
    const none = await db().updateTable('items').set({ label: 'z' }).where('id', '=', 99).executeTakeFirst();
    expect(none.numUpdatedRows).toBe(0n);
    const deleted = await db().deleteFrom('items').where('id', '=', 2).executeTakeFirst();
    expect(deleted.numDeletedRows).toBe(1n);
  });

  it('serialises concurrent transactions: a rolled-back one leaves nothing, a committed one everything', async () => {
    const failing = db().transaction().execute(async (tx) => {
      await tx.insertInto('items').values({ id: 10, label: 'rolled back' }).execute();
      await new Promise((resolve) => setTimeout(resolve, 30));
      throw new Error('abort');
    });
    const succeeding = db().transaction().execute(async (tx) => {
      await tx.insertInto('items').values({ id: 11, label: 'committed' }).execute();
    });
    await expect(failing).rejects.toThrow('abort');
    await succeeding;
    const ids = (await db().selectFrom('items').select('id').where('id', '>=', 10).execute()).map((row) => row.id);
    expect(ids).toEqual([11]);
  });

  it('times out with a named error when the root handle is used inside a transaction', async () => {
    const attempt = db().transaction().execute(async () => {
      // The mistake DESIGN §5 forbids: the root handle while the session is held.
      await db().selectFrom('items').selectAll().execute();
    });
    await expect(attempt).rejects.toBeInstanceOf(DatabaseBusyError);
    // The session is usable again afterwards.
    expect(await db().selectFrom('items').select('id').where('id', '=', 1).executeTakeFirst()).toEqual({ id: 1 });
  });

  it('returns bytea as Buffer and int8 as number, like the pg adapter', async () => {
    const { rows } = await sql<{ b: Buffer; n: number }>`select '\\x00ff'::bytea as b, 9007199254740991::int8 as n`.execute(handle.db);
    expect(Buffer.isBuffer(rows[0]!.b)).toBe(true);
    expect([...rows[0]!.b]).toEqual([0, 255]);
    expect(rows[0]!.n).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('data-directory lock', () => {
  it('lets one process open the embedded database; maintenance refuses while it is held', async () => {
    const dataDir = tempDir();
    const first = await open(dataDir);
    try {
      expect(lockHolder(dataDir)).toBe(process.pid);
      await expect(open(dataDir)).rejects.toBeInstanceOf(DataDirLockedError);
    } finally {
      await first.close();
    }
    expect(lockHolder(dataDir)).toBeUndefined();
    const again = await open(dataDir);
    await again.close();
  });

  it('takes over a lock left by a dead process', () => {
    const dataDir = tempDir();
    writeFileSync(path.join(dataDir, 'service.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }));
    const lock = acquireDataDirLock(dataDir);
    expect(lockHolder(dataDir)).toBe(process.pid);
    lock.release();
    expect(existsSync(path.join(dataDir, 'service.lock'))).toBe(false);
  });

  it('applies migrations once: a second run has nothing to do', async () => {
    const handle = await open(tempDir(), { fromSnapshot: false });
    try {
      const first = await migrateToLatest(handle.db as never);
      expect(first.length).toBeGreaterThan(0);
      expect(first.every((result) => result.status === 'Success')).toBe(true);
      expect(await migrateToLatest(handle.db as never)).toEqual([]);
    } finally {
      await handle.close();
    }
  });
});

describe('encrypted columns at rest', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('[ASVS 14.2.4] stores email and display name only as envelopes, found by the blind index', async () => {
    const id = await createTestUser(t, 'Canary.Person+xyz@Example.test');
    // Raw SQL, not the repository: what is stored, byte for byte (the plugin camel-cases result names).
    const raw = await sql<{ email: Buffer; displayName: Buffer; emailIndex: Buffer }>`select email, display_name, email_index from users where id = ${id}`.execute(t.container.db);
    const row = raw.rows[0]!;
    for (const value of [row.email, row.displayName, row.emailIndex]) {
      expect(value.toString('latin1').toLowerCase()).not.toContain('canary');
    }
    const found = await t.container.repos.users.findByEmail(t.container.db, 'canary.person+xyz@example.TEST');
    expect(found?.id).toBe(id);
    expect(found?.email).toBe('Canary.Person+xyz@Example.test');
  });

  it('[ASVS 11.3.3] a ciphertext copied to another row fails with an integrity error, never garbage', async () => {
    const victim = await createTestUser(t, 'victim@example.test');
    const attacker = await createTestUser(t, 'attacker@example.test');
    await sql`update users set email = (select email from users where id = ${victim}) where id = ${attacker}`.execute(t.container.db);
    const error = await t.container.repos.users.findById(t.container.db, attacker).catch((caught: unknown) => caught);
    expect(isIntegrityError(error)).toBe(true);
    await sql`update users set display_name = set_byte(display_name, 20, get_byte(display_name, 20) # 1) where id = ${victim}`.execute(t.container.db);
    const tampered = await t.container.repos.users.findById(t.container.db, victim).catch((caught: unknown) => caught);
    expect(isIntegrityError(tampered)).toBe(true);
  });

  it('enforces email uniqueness among live users only (case-insensitive through the blind index)', async () => {
    await createTestUser(t, 'unique@example.test');
    await expect(createTestUser(t, 'UNIQUE@example.test')).rejects.toMatchObject({ code: '23505' });
    await sql`update users set deleted_at = now() where id = (select id from users where email_index = ${t.container.blindIndex.compute('unique@example.test', 'users.email')})`.execute(t.container.db);
    await expect(createTestUser(t, 'unique@example.test')).resolves.toBeTypeOf('string');
  });
});

describe.runIf(serverUrls())('migrations beside other schemas (server mode)', () => {
  it('starts while another session creates and drops tables in its own schema', async () => {
    const mine = await createTestBackend(); // a schema of its own, on the search path of its DATABASE_URL
    const theirs = uniqueName(inject('testSchemaPrefix'));
    const admin = new pg.Client({ connectionString: serverUrls()!.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${theirs}`);
    const handle = await openDatabase({ mode: 'server', dataDir: mine.env.DATA_DIR!, databaseUrl: mine.env.DATABASE_URL, poolMax: 2, statementTimeoutMs: 10_000, breaker: noBreaker, logger: { warn: () => undefined } });
    // Kysely's own introspector resolved every column of every table of every schema by name, and
    // failed on a table dropped while it ran. Many wide tables make that read long enough to be hit.
    const columns = Array.from({ length: 100 }, (_, column) => `c${column} int`).join(', ');
    const TABLES = 150;
    await admin.query(Array.from({ length: TABLES }, (_, table) => `CREATE TABLE ${theirs}.t${table} (${columns});`).join('\n'));
    let churning = true;
    const churn = (async () => {
      for (let round = 0; churning; round += 1) await admin.query(`DROP TABLE ${theirs}.t${round % TABLES}; CREATE TABLE ${theirs}.t${round % TABLES} (${columns})`);
    })();
    try {
      await migrateToLatest(handle.db as never);
      for (let run = 0; run < 20; run += 1) expect(await migrateToLatest(handle.db as never)).toEqual([]);
    } finally {
      churning = false;
      await churn;
      await handle.close();
      await admin.query(`DROP SCHEMA ${theirs} CASCADE`);
      await admin.end();
      await mine.cleanup();
    }
  });
});
