/* global process, console, fetch, AbortSignal -- Node globals (the lint config declares none for .mjs files) */
/* eslint-disable security/detect-non-literal-fs-filename -- every path is built here, under bench/results or a temp dir */
// Authentication benchmarks (`npm run bench:auth`, which builds first), DESIGN §9 "Benchmarks":
// the service, the bare-Fastify baseline and every load generator are separate processes; service
// and baseline alternate (the order flips every round); medians and per-round ratios.
//
//   login  POST /api/v1/auth/login with a real user's correct credentials, against the baseline's
//          POST /argon2/verify: raw @node-rs/argon2 verify of a hash made with the SAME parameters
//          (read from the policy the service runs with), same body, same connections, same HTTP.
//          Target: service/baseline req/s ≥ 0.85.
//   me     GET /api/v1/users/me with `Authorization: Bearer <access token>` (one login per round),
//          against the baseline's GET /health/live. Target: service/baseline req/s ≥ 0.25.
//   me@rate the same route at a fixed offered rate (BENCH_ME_RATE, 1,000/s). Target: p99 ≤ 50 ms.
//
// Environment (all optional): BENCH_ROUNDS (3) BENCH_DURATION_S (10) BENCH_WARMUP_S (3)
//   BENCH_LOGIN_CONNECTIONS (4) BENCH_CONNECTIONS (50: me) BENCH_ME_RATE (1000) BENCH_SCENARIOS (login,me)
//   BENCH_LOG_LEVEL (info) BENCH_ENFORCE (1 = exit 2 when a target is missed) BENCH_KEEP_DATA
//   BENCH_READY_TIMEOUT_S (90). Server mode when DATABASE_URL and REDIS_URL are set (the bench
//   generates the keys the service then needs); embedded (fresh temporary DATA_DIR) otherwise.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  HOST, benchDir, fmt, freePort, hasExited, intEnv, peakRssMiB, repoRoot, resultsDir, runLoad, serverModeEnv, serviceEnv,
  startLogged, stopAllChildren, summarise, superviseRun, tail, waitForOk,
} from './lib.mjs';

const settings = {
  rounds: Math.round(intEnv('BENCH_ROUNDS', 3, 1)),
  durationS: intEnv('BENCH_DURATION_S', 10, 1),
  warmupS: intEnv('BENCH_WARMUP_S', 3, 0),
  loginConnections: Math.round(intEnv('BENCH_LOGIN_CONNECTIONS', 4, 1)),
  connections: Math.round(intEnv('BENCH_CONNECTIONS', 50, 1)),
  meRate: Math.round(intEnv('BENCH_ME_RATE', 1000, 1)),
  readyTimeoutS: intEnv('BENCH_READY_TIMEOUT_S', 90, 5),
  scenarios: (process.env.BENCH_SCENARIOS || 'login,me').split(',').map((name) => name.trim()),
  logLevel: process.env.BENCH_LOG_LEVEL || 'info',
  enforce: process.env.BENCH_ENFORCE === '1',
  keepData: process.env.BENCH_KEEP_DATA === '1',
  mode: process.env.DATABASE_URL && process.env.REDIS_URL ? 'server' : 'embedded',
};
const TARGETS = { loginRatio: 0.85, meRatio: 0.25, meRateP99Ms: 50 };
for (const name of settings.scenarios) if (!['login', 'me'].includes(name)) throw new Error(`BENCH_SCENARIOS: unknown scenario ${name}`);

let tempDir;
let dropSchema;

/** Server mode: a schema and keys of its own (see lib.mjs), dropped at the end. */
async function serverEnv() {
  const { env, drop } = await serverModeEnv('auth');
  dropSchema = drop;
  return env;
}
let cleanupPromise;
const cleanup = () =>
  (cleanupPromise ??= (async () => {
    await stopAllChildren();
    if (tempDir && !settings.keepData) rmSync(tempDir, { recursive: true, force: true });
    if (dropSchema && !settings.keepData) await dropSchema().catch((error) => console.error(`bench: could not drop the schema: ${error.message}`));
  })());

/** The policy the service runs with: every rate tier lifted so none binds; hash parameters stated explicitly. */
async function writePolicy(file) {
  const { PolicySchema } = await import(pathToFileURL(path.join(repoRoot, 'dist', 'config', 'policy.schema.js')).href);
  const password = PolicySchema.properties.password.properties;
  const argon2 = { memoryCostKiB: password.hashMemoryCostKiB.default, timeCost: password.hashTimeCost.default, parallelism: password.hashParallelism.default };
  const lifted = { limit: 1_000_000, windowSeconds: 60 };
  const policy = {
    password: { hashMemoryCostKiB: argon2.memoryCostKiB, hashTimeCost: argon2.timeCost, hashParallelism: argon2.parallelism },
    rateLimits: { perIp: lifted, authentication: lifted, read: lifted, write: lifted },
  };
  writeFileSync(file, `${JSON.stringify(policy, null, 2)}\n`);
  return { argon2, policy };
}

/** Server mode needs every key; fresh ones per run (the bench's schema is its own, so nothing else reads them). */
async function login(serverUrl, credentials) {
  const response = await fetch(`${serverUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: credentials,
    signal: AbortSignal.timeout(10_000),
  });
  const body = await response.json();
  if (response.status !== 200 || !body.accessToken) throw new Error(`login answered ${response.status}: ${body.code ?? ''}`);
  return body.accessToken;
}

async function main() {
  const mainJs = path.join(repoRoot, 'dist', 'main.js');
  if (!existsSync(mainJs)) throw new Error('dist/main.js is missing: run `npm run bench:auth` (it builds first)');
  if (settings.rounds < 3) console.warn(`bench: BENCH_ROUNDS=${settings.rounds}; DESIGN §9 asks for at least 3 alternations`);
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const serverLog = path.join(resultsDir, `auth-server-${stamp}.log`);
  const baselineLog = path.join(resultsDir, `auth-baseline-${stamp}.log`);
  const resultFile = path.join(resultsDir, `auth-${stamp}.json`);

  tempDir = mkdtempSync(path.join(os.tmpdir(), 'vutf-bench-auth-'));
  const policyFile = path.join(tempDir, 'policy.json');
  const { argon2, policy } = await writePolicy(policyFile);
  const email = 'bench-admin@example.test';
  const password = randomBytes(24).toString('base64url');
  const credentials = JSON.stringify({ email, password });

  const [serverPort, baselinePort] = [await freePort(), await freePort()];
  const serverUrl = `http://${HOST}:${serverPort}`;
  const baselineUrl = `http://${HOST}:${baselinePort}`;
  const env = serviceEnv(settings.mode === 'server' ? ['DATABASE_URL', 'REDIS_URL'] : []);
  Object.assign(env, {
    PORT: String(serverPort),
    HOST,
    DATA_DIR: path.join(tempDir, 'data'),
    POLICY_FILE: policyFile,
    LOG_LEVEL: settings.logLevel,
    BOOTSTRAP_ADMIN_EMAIL: email,
    BOOTSTRAP_ADMIN_PASSWORD: password,
    ...(settings.mode === 'server' ? await serverEnv() : {}),
  });

  const loadAtStart = os.loadavg();
  console.log(`bench: ${os.cpus().length} CPUs, load average ${loadAtStart.map((value) => value.toFixed(2)).join(' ')}, node ${process.version}, ${settings.mode} mode`);
  if (loadAtStart[0] > os.cpus().length * 0.5) console.warn('bench: the machine is busy; figures will be noisy');
  console.log(`bench: scenarios ${settings.scenarios.join(', ')}; rounds ${settings.rounds}, ${settings.durationS} s each; argon2id m=${argon2.memoryCostKiB} t=${argon2.timeCost} p=${argon2.parallelism}`);
  console.log(`bench: service log ${path.relative(repoRoot, serverLog)}`);

  const startedAt = new Date();
  const server = startLogged('service', [mainJs], env, serverLog);
  const baselineEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', BASELINE_PASSWORD: password, BASELINE_ARGON2: JSON.stringify(argon2) };
  const baseline = startLogged('baseline', [path.join(benchDir, 'baseline-server.mjs'), '--port', String(baselinePort), '--host', HOST], baselineEnv, baselineLog);
  await Promise.all([
    waitForOk(`${serverUrl}/health/ready`, server, 'service', serverLog, settings.readyTimeoutS * 1000),
    waitForOk(`${baselineUrl}/health/live`, baseline, 'baseline', baselineLog, 30_000),
  ]);
  console.log(`bench: service ready (pid ${server.pid}), baseline pid ${baseline.pid}`);

  const bearer = async () => ({ authorization: `Bearer ${await login(serverUrl, credentials)}` });
  const targets = {
    serviceLogin: { label: 'service  POST /auth/login', url: `${serverUrl}/api/v1/auth/login`, method: 'POST', connections: settings.loginConnections, body: true },
    baselineVerify: { label: 'baseline argon2 verify', url: `${baselineUrl}/argon2/verify`, method: 'POST', connections: settings.loginConnections, body: true },
    serviceMe: { label: 'service  GET /users/me', url: `${serverUrl}/api/v1/users/me`, connections: settings.connections, auth: true },
    baselineLive: { label: 'baseline GET /health/live', url: `${baselineUrl}/health/live`, connections: settings.connections },
    serviceMeRate: { label: `service  /users/me @${settings.meRate}/s`, url: `${serverUrl}/api/v1/users/me`, connections: settings.connections, auth: true, rate: settings.meRate },
  };
  const measure = async (key, durationS, round) => {
    if (hasExited(server)) throw new Error(`the service exited during the benchmark:\n${tail(serverLog)}`);
    if (hasExited(baseline)) throw new Error(`the baseline exited during the benchmark:\n${tail(baselineLog)}`);
    const target = targets[key];
    // A fresh token per measurement: access tokens live 600 s by default, a run longer than that.
    const secret = { ...(target.auth ? { headers: await bearer() } : {}), ...(target.body ? { body: credentials } : {}) };
    const result = await runLoad(target.url, { connections: target.connections, durationS, method: target.method, rate: target.rate, secret });
    console.log(
      `  ${(round === null ? 'warm-up' : `round ${round}`).padEnd(8)} ${target.label.padEnd(30)} ${fmt(result.requestsPerSec).padStart(8)} req/s  ` +
        `p50 ${fmt(result.latencyP50Ms, 2).padStart(7)} ms  p99 ${fmt(result.latencyP99Ms, 2).padStart(7)} ms` +
        (result.non2xx || result.errors || result.timeouts ? `  non-2xx ${result.non2xx} errors ${result.errors} timeouts ${result.timeouts}` : ''),
    );
    return result;
  };

  const pairs = [];
  if (settings.scenarios.includes('login')) pairs.push(['serviceLogin', 'baselineVerify']);
  if (settings.scenarios.includes('me')) pairs.push(['serviceMe', 'baselineLive']);
  const keys = pairs.flat().concat(settings.scenarios.includes('me') ? ['serviceMeRate'] : []);
  if (settings.warmupS > 0) for (const key of keys) await measure(key, settings.warmupS, null);

  const samples = Object.fromEntries(keys.map((key) => [key, []]));
  for (let round = 1; round <= settings.rounds; round += 1) {
    for (const [service, ceiling] of pairs) {
      // Alternate which goes first so drift on a shared machine does not favour one side.
      for (const key of round % 2 === 1 ? [service, ceiling] : [ceiling, service]) samples[key].push(await measure(key, settings.durationS, round));
    }
    if (samples.serviceMeRate) samples.serviceMeRate.push(await measure('serviceMeRate', settings.durationS, round));
  }

  const summary = Object.fromEntries(Object.entries(samples).map(([key, runs]) => [key, summarise(runs)]));
  const ratioOf = (service, ceiling) => ({
    ratio: summary[service].requestsPerSec / summary[ceiling].requestsPerSec,
    perRound: samples[service].map((run, index) => run.requestsPerSec / samples[ceiling][index].requestsPerSec),
  });
  const verdicts = {};
  if (samples.serviceLogin) verdicts.login = { ...ratioOf('serviceLogin', 'baselineVerify'), target: TARGETS.loginRatio };
  if (samples.serviceMe) verdicts.me = { ...ratioOf('serviceMe', 'baselineLive'), target: TARGETS.meRatio };
  for (const verdict of Object.values(verdicts)) verdict.met = verdict.ratio >= verdict.target;
  if (samples.serviceMeRate) {
    const p99 = summary.serviceMeRate.latencyP99Ms;
    verdicts.meAtRate = { offeredRate: settings.meRate, p99Ms: p99, perRoundP99Ms: samples.serviceMeRate.map((run) => run.latencyP99Ms), target: TARGETS.meRateP99Ms, met: p99 !== null && p99 <= TARGETS.meRateP99Ms };
  }
  const valid = Object.values(summary).every((entry) => entry.non2xx === 0 && entry.errors === 0);

  console.log(`\nMedians of ${settings.rounds} rounds (${settings.durationS} s each; login ${settings.loginConnections} connections, me ${settings.connections}):\n`);
  console.log(`${'target'.padEnd(32)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'non-2xx'.padStart(10)}${'errors'.padStart(8)}`);
  for (const [key, entry] of Object.entries(summary)) {
    console.log(
      `${targets[key].label.padEnd(32)}${fmt(entry.requestsPerSec).padStart(10)}${fmt(entry.latencyP50Ms, 2).padStart(10)}` +
        `${fmt(entry.latencyP99Ms, 2).padStart(10)}${String(entry.non2xx).padStart(10)}${String(entry.errors).padStart(8)}`,
    );
  }
  console.log('');
  for (const [name, verdict] of Object.entries(verdicts)) {
    const state = verdict.met ? 'met' : 'NOT met';
    if (name === 'meAtRate') {
      console.log(`/users/me at ${verdict.offeredRate} req/s: p99 ${fmt(verdict.p99Ms, 2)} ms (target ≤ ${verdict.target} ms: ${state}); per round ${verdict.perRoundP99Ms.map((v) => fmt(v, 2)).join(', ')}`);
    } else {
      console.log(`${name} service/baseline req/s: ${verdict.ratio.toFixed(3)} (target ≥ ${verdict.target.toFixed(2)}: ${state}); per round ${verdict.perRound.map((v) => v.toFixed(3)).join(', ')}`);
    }
  }
  if (!valid) console.error('bench: some requests failed or answered non-2xx: these figures are not a valid measurement');

  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}`, loadAverageAtStart: loadAtStart, loadAverageAtEnd: os.loadavg() },
    settings: { ...settings, argon2, policy },
    summary,
    verdicts,
    valid,
    peakRssMiB: { server: peakRssMiB(server.pid), baseline: peakRssMiB(baseline.pid) },
    runs: samples,
    logs: { server: path.relative(repoRoot, serverLog), baseline: path.relative(repoRoot, baselineLog) },
  };
  writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  copyFileSync(resultFile, path.join(resultsDir, 'auth-latest.json'));
  console.log(`\nbench: results in ${path.relative(repoRoot, resultFile)} (and bench/results/auth-latest.json)`);

  await cleanup();
  if (!valid) return 1;
  if (settings.enforce && !Object.values(verdicts).every((verdict) => verdict.met)) return 2;
  return 0;
}

// Bounded in time whatever happens: start-up, warm-ups and rounds (at most five measurements each), with margins.
const budgetS = settings.readyTimeoutS + 5 * (settings.warmupS + 40) + settings.rounds * 5 * (settings.durationS + 40) + 60;
superviseRun(cleanup, budgetS)(main());
