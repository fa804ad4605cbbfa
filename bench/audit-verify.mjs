/* global process, console, URL -- Node globals (the lint config declares none for .mjs files) */
/* eslint-disable security/detect-non-literal-fs-filename -- every path is built here, under bench/results */
// Audit verification benchmark (issue 4 acceptance): GET /audit/verify's work over the rows since a
// checkpoint must run at ≥ 50% of the speed of a plain scan of the same rows on PostgreSQL.
//
// `npm run build && DATABASE_URL=postgres://... node bench/audit-verify.mjs`
// In a fresh schema: one event sealed with a checkpoint, then AUDIT_BENCH_ROWS events inserted in bulk
// and sealed by the real sealer (no further checkpoint). Then, alternating for AUDIT_BENCH_ROUNDS rounds,
// each measurement a new child process: (a) plain: the same SELECT and keyset batches as the verifier,
// rows read into JS and dropped; (b) verify: the verifier's check from that checkpoint (recomputes each
// hash). Prints medians of rows/s and the ratio verify/plain; writes bench/results/audit-verify-<time>.json.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { intEnv, median, repoRoot, resultsDir } from './lib.mjs';

// AUDIT_BENCH_DIST: another build output under the repository (e.g. .cache/...); default dist/ (npm run build).
const distDir = path.resolve(repoRoot, process.env.AUDIT_BENCH_DIST ?? 'dist');
const dist = (file) => pathToFileURL(path.join(distDir, file)).href;
const run = promisify(execFile);

async function openBenchDb(databaseUrl) {
  const { openDatabase } = await import(dist('platform/db/database.js'));
  return openDatabase({
    mode: 'server',
    dataDir: path.join(repoRoot, 'bench', 'results'),
    databaseUrl,
    poolMax: 2,
    statementTimeoutMs: 600_000,
    breaker: { run: (fn) => fn() },
    logger: { warn: () => undefined },
  });
}

async function benchModules(keyringText) {
  const { auditChainRepo } = await import(dist('modules/audit/audit-chain.repo.js'));
  const { createCheckpointSigner } = await import(dist('modules/audit/audit-checkpoints.js'));
  const { parseKeyring } = await import(dist('platform/crypto/keyring.js'));
  const { createAuditVerifier, VERIFY_BATCH } = await import(dist('modules/audit/audit-verify.service.js'));
  return { repo: auditChainRepo, signer: createCheckpointSigner(parseKeyring(keyringText)), createAuditVerifier, VERIFY_BATCH };
}

/** One measurement in its own process: prints { kind, rows, ms } as one JSON line. */
async function child(kind) {
  const { BENCH_SCHEMA_URL: url, BENCH_KEYRING: keyring } = process.env;
  const database = await openBenchDb(url);
  try {
    const { repo, signer, createAuditVerifier, VERIFY_BATCH } = await benchModules(keyring);
    const checkpoint = await repo.latestCheckpoint(database.db);
    const started = process.hrtime.bigint();
    let rows = 0;
    if (kind === 'plain') {
      for (let from = checkpoint.seq; ; ) {
        const batch = await repo.scan(database.db, from, VERIFY_BATCH);
        rows += batch.length;
        if (batch.length < VERIFY_BATCH) break;
        from = batch[batch.length - 1].seq + 1;
      }
    } else {
      const result = await createAuditVerifier({ db: database.db, repo, signer }).verifyFromCheckpoint();
      if (!result.ok) throw new Error(`verify failed: ${JSON.stringify(result)}`);
      rows = result.events;
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(JSON.stringify({ kind, rows, ms }));
  } finally {
    await database.close();
  }
}

async function measure(kind, env) {
  const { stdout } = await run(process.execPath, [fileURLToPath(import.meta.url), '--child', kind], { env: { ...process.env, ...env }, timeout: 600_000 });
  const result = JSON.parse(stdout.trim().split('\n').pop());
  return { ...result, rowsPerSec: result.rows / (result.ms / 1000) };
}

async function main() {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL (PostgreSQL) is required');
  const rowsWanted = intEnv('AUDIT_BENCH_ROWS', 200_000, 1000);
  const rounds = intEnv('AUDIT_BENCH_ROUNDS', 3, 1);
  const schema = `bench_audit_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  try {
    const database = await openBenchDb(url.toString());
    const { formatKeyring, generateKeyring } = await import(dist('platform/crypto/keyring.js'));
    const keyring = formatKeyring(generateKeyring());
    try {
      const { migrateToLatest } = await import(dist('platform/db/migrator.js'));
      const { createAuditSealer } = await import(dist('modules/audit/audit-sealer.js'));
      const { systemClock } = await import(dist('platform/clock.js'));
      await migrateToLatest(database.db);
      const { repo, signer } = await benchModules(keyring);
      const logger = { info: () => undefined, error: (...args) => console.error(...args) };
      const sealer = createAuditSealer(
        { db: database.db, clock: systemClock, logger, repo, signer, mode: 'server', dataDir: repoRoot },
        { checkpointEveryMs: 365 * 86_400_000, checkpointEveryEvents: Number.MAX_SAFE_INTEGER },
      );
      const insert = (count) =>
        admin.query(
          `INSERT INTO ${schema}.audit_events (id, occurred_at, actor_type, actor_id, actor_user_id, org_id, action, resource_type, resource_id,
             outcome, status_code, request_id, client_ip, user_agent, changed_fields, detail)
           SELECT gen_random_uuid(), now() + i * interval '1 millisecond', 'user', 'u-' || i, gen_random_uuid(), gen_random_uuid(), 'user.read', 'user',
             'r-' || i, 'success', 200, 'req-' || i, decode(repeat(md5(i::text), 2), 'hex'), decode(repeat(md5('ua' || i), 4), 'hex'),
             '["displayName","email"]'::jsonb, jsonb_build_object('count', i, 'kind', 'bench')
           FROM generate_series(1, $1::int) AS i`,
          [count],
        );
      await insert(1);
      const first = await sealer.sealPending({ forceCheckpoint: true });
      if (!first.checkpoint) throw new Error('no checkpoint at the start');
      await insert(rowsWanted);
      const sealStart = Date.now();
      let sealed = 0;
      for (;;) {
        const result = await sealer.sealPending();
        sealed += result.sealed;
        if (result.sealed === 0) break;
      }
      const sealMs = Date.now() - sealStart;
      console.log(`sealed ${sealed} events in ${(sealMs / 1000).toFixed(1)} s (${Math.round(sealed / (sealMs / 1000))} events/s); checkpoint at seq ${first.checkpoint.seq}`);
    } finally {
      await database.close();
    }

    const env = { BENCH_SCHEMA_URL: url.toString(), BENCH_KEYRING: keyring };
    const runs = { plain: [], verify: [] };
    await measure('plain', env); // warm-up: the table's pages into PostgreSQL's cache
    for (let round = 0; round < rounds; round += 1) {
      for (const kind of round % 2 === 0 ? ['plain', 'verify'] : ['verify', 'plain']) {
        const result = await measure(kind, env);
        runs[kind].push(result);
        console.log(`round ${round + 1} ${kind.padEnd(6)} ${result.rows} rows in ${result.ms.toFixed(0)} ms = ${Math.round(result.rowsPerSec)} rows/s`);
      }
    }
    const plain = median(runs.plain.map((r) => r.rowsPerSec));
    const verify = median(runs.verify.map((r) => r.rowsPerSec));
    const ratio = verify / plain;
    const summary = { rows: rowsWanted + 1, rounds, plainRowsPerSec: Math.round(plain), verifyRowsPerSec: Math.round(verify), ratio: Number(ratio.toFixed(3)), target: 0.5, runs };
    console.log(`median plain ${summary.plainRowsPerSec} rows/s, verify ${summary.verifyRowsPerSec} rows/s, ratio ${summary.ratio} (target ≥ 0.50)`);
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(path.join(resultsDir, `audit-verify-${new Date().toISOString().replaceAll(':', '-')}.json`), `${JSON.stringify(summary, null, 2)}\n`);
    return ratio >= 0.5 || process.env.BENCH_ENFORCE !== '1' ? 0 : 2;
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3]).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(`audit-verify bench: ${error.stack ?? error}`);
      process.exit(1);
    },
  );
}
