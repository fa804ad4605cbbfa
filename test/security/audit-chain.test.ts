import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { createKeyring } from '../../src/platform/crypto/keyring.js';
import { createLogger } from '../../src/platform/logger.js';
import { CHAIN_COLUMNS } from '../../src/modules/audit/audit-chain.js';
import { auditChainRepo } from '../../src/modules/audit/audit-chain.repo.js';
import { checkpointJson, createCheckpointSigner } from '../../src/modules/audit/audit-checkpoints.js';
import { createAuditVerifier } from '../../src/modules/audit/audit-verify.service.js';
import { reportAuditVerify, runAuditVerify } from '../../src/ops/audit-verify.command.js';
import { asPrincipal, createTestApp, type TestApp } from '../setup/test-app.js';
import { json } from '../setup/identity-factory.js';
import { readAudit } from '../setup/audit-trail.js';

/**
 * The audit chain is tamper-evident (issue 4 item 2, ADR 0007): a superuser who switches the
 * append-only triggers off and edits, deletes, reorders or cuts off sealed events is caught, with the
 * first bad sequence number, by GET /audit/verify (from the last signed checkpoint) and by the
 * operator's `npm run audit:verify` (the whole chain and every checkpoint).
 */

const clock = createManualClock(new Date());
const logLines: string[] = [];
const auditor = asPrincipal('01960000-0000-7000-8000-00000000a0d1', ['platform:audit:read']);
let t: TestApp;
/** The chain's positions after the first checkpoint: where the API's check can see tampering. */
let window: { from: number; to: number };

const verifyApi = async () => {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/audit/verify', headers: auditor });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ ok: boolean; firstBadSeq: number | null; reason: string | null; checkedFrom: number | null; checkedTo: number | null; events: number }>();
};

/** What `npm run audit:verify` does on this container: its exit code, its output, the result. */
const verifyOps = async () => {
  const out: string[] = [];
  const io = { stdout: (line: string) => out.push(line), stderr: (line: string) => out.push(line) };
  const options = t.container.audit.checkpointFile ? { checkpointFile: t.container.audit.checkpointFile } : {};
  const code = await reportAuditVerify(t.container.audit.verifier, options, io);
  return { code, out, result: await t.container.audit.verifier.verifyAll(options) };
};

/** Events through the API: reads of the chain's health are audited, failed sign-ins too. */
async function makeEvents(count: number) {
  for (let index = 0; index < count; index += 1) {
    if (index % 2 === 0) await verifyApi();
    else await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email: `nobody${index}@example.test`, password: 'wrong password 1234' } });
  }
}

/** Seals until nothing is pending (a background run may hold the lock for a moment). */
async function sealAll(forceCheckpoint = false) {
  for (let round = 0; round < 20; round += 1) {
    await t.container.audit.sealer.sealPending({ forceCheckpoint });
    if ((await auditChainRepo.countUnsealed(t.container.db)) === 0) return;
  }
  throw new Error('events stayed unsealed');
}

const headSeq = async () => (await auditChainRepo.head(t.container.db))!.seq;

/**
 * Tampering as the superuser: triggers off, the change, triggers on. The rows touched are backed up
 * into a table first and put back afterwards, so each test starts from an intact chain.
 */
async function tamper(seqs: number[], change: () => Promise<unknown>, check: () => Promise<void>) {
  const db = t.container.db;
  const list = sql.join(seqs);
  await sql`create table tamper_backup as select * from audit_events where seq in (${list})`.execute(db);
  await sql`alter table audit_events disable trigger user`.execute(db);
  try {
    await change();
    await check();
  } finally {
    await sql`delete from audit_events where id in (select id from tamper_backup) or seq in (${list})`.execute(db);
    await sql`insert into audit_events select * from tamper_backup`.execute(db);
    await sql`alter table audit_events enable trigger user`.execute(db);
    await sql`drop table tamper_backup`.execute(db);
  }
  expect((await verifyOps()).result.ok).toBe(true);
}

const expectCaught = async (firstBadSeq: number, reason: string, viaApi = true) => {
  if (viaApi) expect(await verifyApi()).toMatchObject({ ok: false, firstBadSeq, reason });
  const ops = await verifyOps();
  expect(ops.code).toBe(1);
  expect(ops.result).toMatchObject({ ok: false, firstBadSeq, reason });
  expect(ops.out.join('\n')).toContain(`first bad seq ${firstBadSeq}`);
};

beforeAll(async () => {
  const logger = createLogger('info', { write: (line: string) => void logLines.push(line) });
  t = await createTestApp({ overrides: { clock, logger } });
  await makeEvents(4);
  await sealAll(true);
  const first = await headSeq();
  // Within the checkpoint interval (the manual clock stands still): sealed, not checkpointed.
  await makeEvents(12);
  await sealAll();
  window = { from: first + 1, to: await headSeq() };
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('sealing and checkpoints', () => {
  it('[ASVS 16.4.2] hashes every stored column: the canonical encoding covers the table exactly', async () => {
    const { rows } = await sql<{ name: string }>`select column_name as name from information_schema.columns
      where table_schema = current_schema() and table_name = 'audit_events'`.execute(t.container.db);
    expect(rows.map((row) => row.name).sort()).toEqual([...CHAIN_COLUMNS, 'hash'].sort());
  });

  it('[ASVS 16.4.2] an intact chain verifies through the API and the operator command', async () => {
    const api = await verifyApi();
    expect(api).toMatchObject({ ok: true, firstBadSeq: null, reason: null });
    expect(api.checkedTo).toBeGreaterThanOrEqual(window.to);
    expect(api.events).toBeGreaterThan(window.to - window.from);
    const ops = await verifyOps();
    expect(ops.code, ops.out.join('\n')).toBe(0);
    expect(ops.out[0]).toMatch(/^audit:verify: intact: \d+ events recomputed \(seq 1\.\.\d+\)/);
  });

  it('[ASVS 16.4.3] sends each checkpoint out of the database: the DATA_DIR file (0600) or one log line', async () => {
    const latest = (await auditChainRepo.latestCheckpoint(t.container.db))!;
    const expected = checkpointJson(latest);
    if (t.container.audit.checkpointFile) {
      const file = t.container.audit.checkpointFile;
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as unknown)).toContainEqual(expected);
    } else {
      const lines = logLines.map((line) => JSON.parse(line) as { msg?: string; auditCheckpoint?: unknown }).filter((line) => line.msg === 'audit checkpoint');
      expect(lines.map((line) => line.auditCheckpoint)).toContainEqual(expected);
    }
  });

  it('[ASVS 16.4.2] checkpoints at most once per interval, then covers the head once the interval passed', async () => {
    const before = (await auditChainRepo.latestCheckpoint(t.container.db))!.seq;
    await makeEvents(2);
    const quiet = await t.container.audit.sealer.sealPending();
    expect(quiet.checkpoint).toBeUndefined();
    clock.advance(30_000);
    const due = await t.container.audit.sealer.sealPending();
    expect(due.checkpoint?.seq).toBeGreaterThan(before);
    expect(due.checkpoint?.seq).toBe(await headSeq());
    window = { from: due.checkpoint!.seq + 1, to: due.checkpoint!.seq };
    await makeEvents(12);
    await sealAll();
    window.to = await headSeq();
  });
});

describe('npm run audit:verify', () => {
  const capture = () => {
    const out: string[] = [];
    return { out, io: { stdout: (line: string) => out.push(line), stderr: (line: string) => out.push(line) } };
  };

  it('refuses arguments (exit 2)', async () => {
    const { out, io } = capture();
    expect(await runAuditVerify(['--fix'], {}, io)).toBe(2);
    expect(out.join('\n')).toMatch(/usage: npm run audit:verify/);
  });

  // Embedded, the test app holds the data directory (the command refuses, like admin:unlock); on
  // PostgreSQL the command builds its own container from the service's environment.
  it.runIf(process.env.DATABASE_URL && process.env.REDIS_URL)('[ASVS 16.4.2] builds its container from the environment and exits 0 on an intact chain', async () => {
    const { out, io } = capture();
    const code = await runAuditVerify([], { ...t.backend.env, LOG_LEVEL: 'silent' }, io, t.backend.overrides);
    expect(code, out.join('\n')).toBe(0);
    expect(out.join('\n')).toMatch(/intact: \d+ events recomputed/);
  });
});

describe('tampering as the superuser (triggers disabled)', () => {
  it('[ASVS 16.4.2] an UPDATE of one event is caught at its sequence number', async () => {
    const target = window.from + 3;
    await tamper([target], () => sql`update audit_events set action = 'user.deleted' where seq = ${target}`.execute(t.container.db), () => expectCaught(target, 'hash-mismatch'));
  });

  it('[ASVS 16.3.3] a failed verification is itself an event (for the alert rule) and an error log line', async () => {
    const target = window.from + 4;
    await tamper(
      [target],
      () => sql`update audit_events set outcome = 'denied' where seq = ${target}`.execute(t.container.db),
      async () => {
        await verifyApi();
        await t.container.audit.watch.check('audit.verify');
        const failures = (await readAudit(t, { action: 'audit.chain.verification-failed' })).filter((event) => event.detail.firstBadSeq === target);
        expect(failures.map((event) => [event.actorType, event.actorId, event.outcome])).toEqual([
          ['system', 'api', 'error'],
          ['system', 'audit.verify', 'error'],
        ]);
        expect(failures[0]!.detail).toEqual({ firstBadSeq: target, reason: 'hash-mismatch' });
        expect(logLines.some((line) => line.includes('audit chain verification failed') && line.includes(`"firstBadSeq":${target}`))).toBe(true);
      },
    );
  });

  it('[ASVS 16.4.2] a DELETE of one event is caught at its sequence number', async () => {
    const target = window.from + 5;
    await tamper([target], () => sql`delete from audit_events where seq = ${target}`.execute(t.container.db), () => expectCaught(target, 'event-missing'));
  });

  it('[ASVS 16.4.2] a swap of two events (their positions exchanged) is caught at the earlier one', async () => {
    const [a, b] = [window.from + 2, window.from + 7];
    const db = t.container.db;
    await tamper(
      [a, b],
      async () => {
        await sql`update audit_events set seq = -1 where seq = ${a}`.execute(db);
        await sql`update audit_events set seq = ${a} where seq = ${b}`.execute(db);
        await sql`update audit_events set seq = ${b} where seq = -1`.execute(db);
      },
      () => expectCaught(a, 'hash-mismatch'),
    );
  });

  it('[ASVS 16.4.2] a cut-off tail behind a checkpoint is caught at the first missing sequence number', async () => {
    await makeEvents(3);
    await sealAll();
    // The background analysis may record (and the background sealer seal) events at any moment, so the
    // cut is placed relative to the checkpoint this test forces, not to a head read a moment later.
    const { checkpoint } = await t.container.audit.sealer.sealPending({ forceCheckpoint: true });
    expect(checkpoint).toBeDefined();
    const signed = checkpoint!.seq;
    const head = await headSeq();
    const cut = Array.from({ length: head - signed + 3 }, (_, index) => signed - 2 + index);
    await tamper(cut, () => sql`delete from audit_events where seq >= ${signed - 2}`.execute(t.container.db), () => expectCaught(signed - 2, 'checkpoint-beyond-head'));
  });

  it('[ASVS 16.4.2] the whole-chain check also catches an edit before the last checkpoint (the API checks from it)', async () => {
    const target = 2;
    await tamper(
      [target],
      () => sql`update audit_events set request_id = 'tampered' where seq = ${target}`.execute(t.container.db),
      async () => {
        expect(await verifyApi()).toMatchObject({ ok: true });
        await expectCaught(target, 'hash-mismatch', false);
      },
    );
  });
});

describe('checkpoint signatures', () => {
  const withCheckpointTriggersOff = async (change: () => Promise<unknown>, check: () => Promise<void>) => {
    const db = t.container.db;
    await sql`alter table audit_checkpoints disable trigger user`.execute(db);
    const before = (await auditChainRepo.latestCheckpoint(db))!.seq;
    try {
      await change();
      await check();
    } finally {
      await sql`delete from audit_checkpoints where seq > ${before}`.execute(db);
      await sql`alter table audit_checkpoints enable trigger user`.execute(db);
    }
  };

  it('[ASVS 16.4.2] a checkpoint with a forged signature, or signed by a key the keyring never had, is refused', async () => {
    await makeEvents(2);
    await sealAll();
    const head = (await auditChainRepo.head(t.container.db))!;
    const intruder = createCheckpointSigner(createKeyring(new Map([[99, randomBytes(32)]])));
    const forgeries = [
      { seq: head.seq, headHash: head.hash, keyVersion: t.container.keys.AUDIT_SIGNING_KEY.current, signature: randomBytes(64), signedAt: clock.now() },
      intruder.sign(head.seq, head.hash, clock.now()),
    ];
    for (const forged of forgeries) {
      await withCheckpointTriggersOff(
        async () => {
          await t.container.db.insertInto('auditSigningKeys').values({ version: 99, publicKey: intruder.publicKeys.get(99)!, createdAt: clock.now() }).onConflict((oc) => oc.doNothing()).execute();
          await t.container.db.insertInto('auditCheckpoints').values(forged).execute();
        },
        async () => {
          expect(await verifyApi()).toMatchObject({ ok: false, reason: 'checkpoint-signature-invalid', firstBadSeq: null });
          const ops = await verifyOps();
          expect(ops.code).toBe(1);
          expect(ops.result.problems).toContainEqual({ seq: null, reason: 'checkpoint-signature-invalid' });
        },
      );
    }
  });

  it('[ASVS 16.4.2] a checkpoint signed by a retired key version still verifies', async () => {
    const keyring = t.container.keys.AUDIT_SIGNING_KEY;
    // The keyring rotated: a new version signs, the old one is gone from it but registered in the table.
    const rotated = createCheckpointSigner(createKeyring(new Map([[keyring.current + 1, randomBytes(32)]])));
    const verifier = createAuditVerifier({ db: t.container.db, repo: auditChainRepo, signer: rotated });
    const latest = (await auditChainRepo.latestCheckpoint(t.container.db))!;
    expect(latest.keyVersion).toBe(keyring.current);
    expect(await verifier.verifyFromCheckpoint()).toMatchObject({ ok: true, checkpoint: { seq: latest.seq, keyVersion: keyring.current } });
    expect((await verifier.verifyAll()).ok).toBe(true);
  });

  it.runIf(process.env.DATABASE_URL === undefined)('[ASVS 16.4.3] a checkpoint in the DATA_DIR file that the table contradicts fails the full check', async () => {
    const file = t.container.audit.checkpointFile!;
    const original = readFileSync(file, 'utf8');
    const signer = createCheckpointSigner(t.container.keys.AUDIT_SIGNING_KEY);
    // Validly signed (the key leaked, say) but naming a hash the chain does not have at seq 3.
    const rogue = signer.sign(3, Buffer.alloc(32, 0xab), clock.now());
    try {
      writeFileSync(file, `${original}${JSON.stringify(checkpointJson(rogue))}\n`);
      const ops = await verifyOps();
      expect(ops.code).toBe(1);
      expect(ops.result.problems).toEqual(
        expect.arrayContaining([
          { seq: 3, reason: 'checkpoint-mismatch' },
          { seq: 3, reason: 'checkpoint-file-contradicts-table' },
        ]),
      );
    } finally {
      writeFileSync(file, original);
    }
    expect((await verifyOps()).code).toBe(0);
  });
});
