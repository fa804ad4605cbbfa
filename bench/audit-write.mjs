/* global process, console, fetch, AbortSignal -- Node globals (the lint config declares none for .mjs files) */
/* eslint-disable security/detect-non-literal-fs-filename -- every path is built here, under bench/results or a temp dir */
// The cost of auditing a write (issue 4 acceptance): the same audited write endpoint on the built
// service (dist/main.js) and on the same build with its audit sink replaced by a no-op
// (bench/audit-noop-server.mjs: a benchmark-only container wiring, no switch in the product), in the
// same run. Both services and every load generator are separate processes; they alternate, the order
// flipping every round; medians over the rounds and the paired ratio per round.
// Target: audited/no-op req/s ≥ 0.70.
//
// Builds first (`npm run build`) unless BENCH_SKIP_BUILD=1. Environment (all optional): BENCH_WRITE
// (profile | org), BENCH_ROUNDS (3) BENCH_DURATION_S (10) BENCH_WARMUP_S (3) BENCH_CONNECTIONS (16)
// BENCH_LOG_LEVEL (info) BENCH_ENFORCE (1 = exit 2 below target) BENCH_KEEP_DATA BENCH_READY_TIMEOUT_S
// (90). Server mode when DATABASE_URL and REDIS_URL are set (a schema per service, dropped at the end);
// embedded (a fresh temporary DATA_DIR per service) otherwise.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  HOST, benchDir, createRunResources, fmt, freePort, hasExited, intEnv, peakRssMiB, repoRoot, resultsDir, runLoad, serverModeEnv, serviceEnv,
  startLogged, summarise, superviseRun, tail, waitForOk,
} from './lib.mjs';

// Both writes are audited and repeatable without conflicts: `{{n}}` makes every body unique (load.mjs).
const WRITES = {
  // The caller's own display name, last write wins (no If-Match): one row updated, the event in its transaction.
  profile: { method: 'PATCH', path: '/api/v1/users/me', body: '{"displayName":"Bench {{n}}"}', action: 'user.profile.updated' },
  // A new organisation per request (unique slug). Each one also adds a membership to the caller's grants,
  // which are re-read after every create: the grants grow through the run (see bench/README.md).
  org: { method: 'POST', path: '/api/v1/orgs', body: '{"name":"Bench {{n}}","slug":"b-{{n}}"}', action: 'org.created' },
};

const settings = {
  write: process.env.BENCH_WRITE || 'profile',
  rounds: Math.round(intEnv('BENCH_ROUNDS', 3, 1)),
  durationS: intEnv('BENCH_DURATION_S', 10, 1),
  warmupS: intEnv('BENCH_WARMUP_S', 3, 0),
  connections: Math.round(intEnv('BENCH_CONNECTIONS', 16, 1)),
  readyTimeoutS: intEnv('BENCH_READY_TIMEOUT_S', 90, 5),
  logLevel: process.env.BENCH_LOG_LEVEL || 'info',
  enforce: process.env.BENCH_ENFORCE === '1',
  keepData: process.env.BENCH_KEEP_DATA === '1',
  mode: process.env.DATABASE_URL && process.env.REDIS_URL ? 'server' : 'embedded',
};
const TARGET_RATIO = 0.7;
if (!WRITES[settings.write]) throw new Error(`BENCH_WRITE must be one of ${Object.keys(WRITES).join(', ')}`);
const write = WRITES[settings.write];

const { dropSchemas, makeTempDir, cleanup } = createRunResources(settings.keepData);
let tempDir;

/** Server mode: a schema and keys per service (see lib.mjs). */
async function serverEnv(name) {
  const { env, drop } = await serverModeEnv(`audit_${name}`);
  dropSchemas.push(drop);
  return env;
}

async function call(url, { method = 'GET', token, body } = {}) {
  const response = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

async function login(baseUrl, credentials) {
  const { status, body } = await call(`${baseUrl}/api/v1/auth/login`, { method: 'POST', body: credentials });
  if (status !== 200 || !body?.accessToken) throw new Error(`login answered ${status}: ${body?.code ?? ''}`);
  return body.accessToken;
}

/**
 * Whether a service keeps the benchmarked write's event: one more such write, then the trail is read
 * (an org's event belongs to the new org, which a super-admin reads with `orgId`). The no-op keeps none.
 */
async function keepsEvents(baseUrl, token) {
  const written = await call(`${baseUrl}${write.path}`, { method: write.method, token, body: write.body.replaceAll('{{n}}', 'check') });
  if (written.status >= 300) throw new Error(`${write.method} ${write.path} answered ${written.status}`);
  const orgFilter = write.action === 'org.created' ? `&orgId=${written.body.id}` : '';
  const { status, body } = await call(`${baseUrl}/api/v1/audit/events?action=${write.action}&limit=1${orgFilter}`, { token });
  if (status !== 200) throw new Error(`GET /audit/events answered ${status}`);
  return body.items.length > 0;
}

async function main() {
  if (process.env.BENCH_SKIP_BUILD !== '1') execFileSync('npm', ['run', 'build', '--silent'], { cwd: repoRoot, stdio: 'inherit' });
  const mainJs = path.join(repoRoot, 'dist', 'main.js');
  if (!existsSync(mainJs)) throw new Error('dist/main.js is missing: run `npm run build`');
  if (settings.rounds < 3) console.warn(`bench: BENCH_ROUNDS=${settings.rounds}; DESIGN §9 asks for at least 3 alternations`);
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultFile = path.join(resultsDir, `audit-write-${stamp}.json`);

  tempDir = makeTempDir('vutf-bench-audit-');
  const policyFile = path.join(tempDir, 'policy.json');
  const lifted = { limit: 1_000_000, windowSeconds: 60 };
  const policy = { rateLimits: { perIp: lifted, authentication: lifted, read: lifted, write: lifted } };
  writeFileSync(policyFile, `${JSON.stringify(policy, null, 2)}\n`);
  const email = 'bench-admin@example.test';
  const password = randomBytes(24).toString('base64url');
  const credentials = JSON.stringify({ email, password });

  const loadAtStart = os.loadavg();
  console.log(`bench: ${os.cpus().length} CPUs, load average ${loadAtStart.map((value) => value.toFixed(2)).join(' ')}, node ${process.version}, ${settings.mode} mode`);
  if (loadAtStart[0] > os.cpus().length * 0.5) console.warn('bench: the machine is busy; figures will be noisy');
  console.log(`bench: ${write.method} ${write.path} (${write.action}); rounds ${settings.rounds}, ${settings.durationS} s each, ${settings.connections} connections`);

  const services = {};
  for (const [name, entry] of [['audited', mainJs], ['noop', path.join(benchDir, 'audit-noop-server.mjs')]]) {
    const port = await freePort();
    const logFile = path.join(resultsDir, `audit-write-${name}-${stamp}.log`);
    const env = Object.assign(serviceEnv(settings.mode === 'server' ? ['DATABASE_URL', 'REDIS_URL'] : []), {
      PORT: String(port),
      HOST,
      DATA_DIR: path.join(tempDir, `data-${name}`),
      POLICY_FILE: policyFile,
      LOG_LEVEL: settings.logLevel,
      BOOTSTRAP_ADMIN_EMAIL: email,
      BOOTSTRAP_ADMIN_PASSWORD: password,
      ...(settings.mode === 'server' ? await serverEnv(name) : {}),
    });
    services[name] = { baseUrl: `http://${HOST}:${port}`, logFile, child: startLogged(`${name} service`, [entry], env, logFile) };
    console.log(`bench: ${name} service log ${path.relative(repoRoot, logFile)}`);
  }
  await Promise.all(Object.entries(services).map(([name, s]) => waitForOk(`${s.baseUrl}/health/ready`, s.child, `${name} service`, s.logFile, settings.readyTimeoutS * 1000)));

  const measure = async (name, durationS, round) => {
    for (const [other, s] of Object.entries(services)) if (hasExited(s.child)) throw new Error(`the ${other} service exited during the benchmark:\n${tail(s.logFile)}`);
    const s = services[name];
    // A fresh token per measurement (outside the measured window): access tokens live 600 s by default.
    const secret = { headers: { authorization: `Bearer ${await login(s.baseUrl, credentials)}` }, body: write.body };
    const result = await runLoad(`${s.baseUrl}${write.path}`, { connections: settings.connections, durationS, method: write.method, secret });
    console.log(
      `  ${(round === null ? 'warm-up' : `round ${round}`).padEnd(8)} ${name.padEnd(8)} ${fmt(result.requestsPerSec).padStart(8)} req/s  ` +
        `p50 ${fmt(result.latencyP50Ms, 2).padStart(7)} ms  p99 ${fmt(result.latencyP99Ms, 2).padStart(7)} ms` +
        (result.non2xx || result.errors || result.timeouts ? `  non-2xx ${result.non2xx} errors ${result.errors} timeouts ${result.timeouts} ${JSON.stringify(result.statusCodes)}` : ''),
    );
    return result;
  };

  if (settings.warmupS > 0) for (const name of ['audited', 'noop']) await measure(name, settings.warmupS, null);
  const samples = { audited: [], noop: [] };
  for (let round = 1; round <= settings.rounds; round += 1) {
    // Alternate which goes first so drift on a shared machine does not favour one side.
    for (const name of round % 2 === 1 ? ['audited', 'noop'] : ['noop', 'audited']) samples[name].push(await measure(name, settings.durationS, round));
  }

  // Proof the two wirings differ where they should: the audited service kept events, the no-op none.
  const kept = {};
  for (const [name, s] of Object.entries(services)) kept[name] = await keepsEvents(s.baseUrl, await login(s.baseUrl, credentials));
  const wiringOk = kept.audited && !kept.noop;

  const summary = { audited: summarise(samples.audited), noop: summarise(samples.noop) };
  const ratio = summary.audited.requestsPerSec / summary.noop.requestsPerSec;
  const perRound = samples.audited.map((run, index) => run.requestsPerSec / samples.noop[index].requestsPerSec);
  const valid = wiringOk && Object.values(summary).every((entry) => entry.non2xx === 0 && entry.errors === 0);

  console.log(`\nMedians of ${settings.rounds} rounds (${settings.durationS} s each, ${settings.connections} connections), ${write.method} ${write.path}:\n`);
  console.log(`${'service'.padEnd(12)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'non-2xx'.padStart(10)}${'errors'.padStart(8)}`);
  for (const [name, entry] of Object.entries(summary)) {
    console.log(
      `${name.padEnd(12)}${fmt(entry.requestsPerSec).padStart(10)}${fmt(entry.latencyP50Ms, 2).padStart(10)}` +
        `${fmt(entry.latencyP99Ms, 2).padStart(10)}${String(entry.non2xx).padStart(10)}${String(entry.errors).padStart(8)}`,
    );
  }
  console.log(`\naudited/no-op req/s: ${ratio.toFixed(3)} (target ≥ ${TARGET_RATIO.toFixed(2)}: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}); per round ${perRound.map((v) => v.toFixed(3)).join(', ')}`);
  if (!wiringOk) console.error(`bench: ${write.action} event kept: audited ${kept.audited}, no-op ${kept.noop}; the wiring is not what this benchmark compares`);
  if (!valid) console.error('bench: the figures are not a valid measurement');

  const result = {
    startedAt: stamp,
    finishedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}`, loadAverageAtStart: loadAtStart, loadAverageAtEnd: os.loadavg() },
    settings: { ...settings, request: write, policy },
    summary,
    verdict: { ratio, perRound, target: TARGET_RATIO, met: ratio >= TARGET_RATIO },
    eventsKept: kept,
    valid,
    peakRssMiB: Object.fromEntries(Object.entries(services).map(([name, s]) => [name, peakRssMiB(s.child.pid)])),
    runs: samples,
    logs: Object.fromEntries(Object.entries(services).map(([name, s]) => [name, path.relative(repoRoot, s.logFile)])),
  };
  writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  copyFileSync(resultFile, path.join(resultsDir, 'audit-write-latest.json'));
  console.log(`\nbench: results in ${path.relative(repoRoot, resultFile)} (and bench/results/audit-write-latest.json)`);

  await cleanup();
  if (!valid) return 1;
  if (settings.enforce && ratio < TARGET_RATIO) return 2;
  return 0;
}

// Bounded whatever happens: build, start-up, warm-ups and rounds (two measurements each), with margins.
const budgetS = 180 + settings.readyTimeoutS + 2 * (settings.warmupS + 40) + settings.rounds * 2 * (settings.durationS + 40) + 60;
superviseRun(cleanup, budgetS)(main());
