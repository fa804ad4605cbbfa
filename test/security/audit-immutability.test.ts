import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/schema.js';
import { openDatabase, type DatabaseHandle } from '../../src/platform/db/database.js';
import { newId } from '../../src/platform/ids.js';
import { createLogger } from '../../src/platform/logger.js';
import { auditChainRepo } from '../../src/modules/audit/audit-chain.repo.js';
import { createCheckpointSigner } from '../../src/modules/audit/audit-checkpoints.js';
import { createAuditRepo } from '../../src/modules/audit/audit.repo.js';
import { createAuditSealer } from '../../src/modules/audit/audit-sealer.js';
import { grantAppRole } from '../../src/ops/migrate.js';
import { APP_ROLE } from '../setup/global-setup.js';
import { json } from '../setup/identity-factory.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Audit rows cannot be changed or removed (issue 4 item 2, DESIGN §9): the triggers refuse UPDATE,
 * DELETE and TRUNCATE to every role, the superuser included, and allow only the sealing of an unsealed
 * row, once. On PostgreSQL the application role has no UPDATE (except seq and hash) or DELETE on audit
 * tables at all, so even disabling the triggers is out of its reach.
 */

let t: TestApp;

/** The error a statement fails with (fails the test when it succeeds). */
async function refusal(statement: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const error = await statement.then(
    () => undefined,
    (reason: unknown) => reason as { code?: string; message: string },
  );
  expect(error, 'the statement should have been refused').toBeDefined();
  return error!;
}

const expectAppendOnly = async (statement: Promise<unknown>) => {
  const error = await refusal(statement);
  expect(error.code).toBe('42501');
  expect(error.message).toMatch(/append-only/);
};

/** Some events through the API, sealed. */
async function sealedEvents(sealPending: () => Promise<unknown>) {
  for (let index = 0; index < 3; index += 1) {
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: `nobody${index}@example.test`, password: 'wrong password 1234' } });
  }
  await sealPending();
  return (await auditChainRepo.head(t.container.db))!;
}

beforeAll(async () => {
  t = await createTestApp();
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('append-only triggers (every role, the superuser included)', () => {
  it('[ASVS 16.4.2] refuses UPDATE, DELETE and TRUNCATE of audit events, sealed or not', async () => {
    const db = t.container.db;
    const head = await sealedEvents(() => t.container.audit.sealer.sealPending());
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: 'late@example.test', password: 'wrong password 1234' } });
    const unsealed = await db.selectFrom('auditEvents').select('id').where('seq', 'is', null).executeTakeFirstOrThrow();

    await expectAppendOnly(sql`update audit_events set action = 'user.deleted' where seq = ${head.seq}`.execute(db));
    await expectAppendOnly(sql`update audit_events set action = 'user.deleted' where id = ${unsealed.id}`.execute(db));
    await expectAppendOnly(sql`delete from audit_events where seq = ${head.seq}`.execute(db));
    await expectAppendOnly(sql`delete from audit_events where id = ${unsealed.id}`.execute(db));
    await expectAppendOnly(sql`truncate audit_events`.execute(db));
  });

  it('[ASVS 16.4.2] refuses to seal a sealed event again, or to change content while sealing', async () => {
    const db = t.container.db;
    const head = await sealedEvents(() => t.container.audit.sealer.sealPending());
    await expectAppendOnly(sql`update audit_events set seq = ${head.seq + 1000}, hash = ${Buffer.alloc(32)} where seq = ${head.seq}`.execute(db));
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: 'late@example.test', password: 'wrong password 1234' } });
    const unsealed = await db.selectFrom('auditEvents').select('id').where('seq', 'is', null).executeTakeFirstOrThrow();
    await expectAppendOnly(sql`update audit_events set seq = ${head.seq + 1000}, hash = ${Buffer.alloc(32)}, action = 'user.read' where id = ${unsealed.id}`.execute(db));
  });

  it('[ASVS 16.4.2] refuses UPDATE, DELETE and TRUNCATE of checkpoints and signing keys', async () => {
    const db = t.container.db;
    await sealedEvents(() => t.container.audit.sealer.sealPending({ forceCheckpoint: true }));
    await expectAppendOnly(sql`update audit_checkpoints set key_version = key_version + 1`.execute(db));
    await expectAppendOnly(sql`delete from audit_checkpoints`.execute(db));
    await expectAppendOnly(sql`truncate audit_checkpoints`.execute(db));
    await expectAppendOnly(sql`update audit_signing_keys set public_key = ${Buffer.alloc(32)}`.execute(db));
    await expectAppendOnly(sql`delete from audit_signing_keys`.execute(db));
  });
});

describe.runIf(process.env.DATABASE_URL && process.env.REDIS_URL)('the application role (PostgreSQL, DESIGN §9)', () => {
  let app: DatabaseHandle;
  let appDb: Kysely<Database>;

  beforeAll(async () => {
    // Migrations ran as the owner; the grants follow (what `DATABASE_APP_ROLE=... npm run migrate` does).
    await grantAppRole(t.container.db as never, APP_ROLE.name);
    const url = new URL(t.config.databaseUrl!);
    url.username = APP_ROLE.name;
    url.password = APP_ROLE.password;
    app = await openDatabase({
      mode: 'server',
      dataDir: t.config.dataDir,
      databaseUrl: url.toString(),
      poolMax: 2,
      statementTimeoutMs: 10_000,
      breaker: { run: (fn) => fn() },
      logger: { warn: () => undefined },
    });
    appDb = app.db;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('[ASVS 16.4.2] is not a superuser and may not UPDATE content, DELETE, TRUNCATE or disable the triggers', async () => {
    const { rows } = await sql<{ superuser: boolean; user: string }>`select current_user as user, (select rolsuper from pg_roles where rolname = current_user) as superuser`.execute(appDb);
    expect(rows[0]).toEqual({ user: APP_ROLE.name, superuser: false });
    const head = await sealedEvents(() => t.container.audit.sealer.sealPending());
    for (const statement of [
      sql`update audit_events set action = 'user.deleted' where seq = ${head.seq}`,
      sql`delete from audit_events where seq = ${head.seq}`,
      sql`truncate audit_events`,
      sql`delete from audit_checkpoints`,
      sql`update audit_signing_keys set created_at = now()`,
    ]) {
      const error = await refusal(statement.execute(appDb));
      expect(error.code).toBe('42501');
      expect(error.message).toMatch(/permission denied/);
    }
    const owner = await refusal(sql`alter table audit_events disable trigger user`.execute(appDb));
    expect(owner.code).toBe('42501');
    expect(owner.message).toMatch(/must be owner/);
  });

  it('[ASVS 16.4.2] may record events, and the sealer works with its grants (seal, checkpoint, key registration)', async () => {
    const cipher = t.container.cipher;
    await createAuditRepo({ cipher }).insert(appDb, {
      id: newId(),
      occurredAt: new Date(),
      actorType: 'system',
      actorId: 'immutability-test',
      actorUserId: null,
      orgId: null,
      action: 'policy.applied',
      resourceType: 'policy',
      resourceId: null,
      subjectIndex: null,
      outcome: 'success',
      statusCode: null,
      requestId: null,
      clientIp: '127.0.0.1',
      userAgent: 'test',
      changedFields: [],
      detail: {},
    });
    const sealer = createAuditSealer({
      db: appDb,
      clock: t.container.clock,
      logger: createLogger('silent'),
      repo: auditChainRepo,
      signer: createCheckpointSigner(t.container.keys.AUDIT_SIGNING_KEY),
      mode: 'server',
      dataDir: t.config.dataDir,
    });
    const result = await sealer.sealPending({ forceCheckpoint: true });
    expect(result.sealed).toBeGreaterThan(0);
    expect(result.checkpoint?.seq).toBe((await auditChainRepo.head(appDb))!.seq);
    expect(await auditChainRepo.countUnsealed(appDb)).toBe(0);
    expect((await t.container.audit.verifier.verifyAll()).ok).toBe(true);
  });
});
