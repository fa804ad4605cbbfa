/* global process, console, fetch, AbortSignal -- Node globals (the lint config declares none for .mjs files) */
/* eslint-disable security/detect-non-literal-fs-filename -- every path is built here, under bench/results or a temp dir */
// Benchmark orchestrator (`npm run bench`, which builds first; this script builds nothing).
//
// Three kinds of process, each with its own event loop (DESIGN §9 "Benchmarks"):
//   1. the service under test: `node dist/main.js`, embedded mode, fresh temporary DATA_DIR,
//      a POLICY_FILE that lifts the per-IP rate limit, a METRICS_TOKEN, logs to bench/results/;
//   2. the ceiling: bench/baseline-server.mjs (bare Fastify, logging off);
//   3. the load generator: bench/load.mjs (autocannon), one process per measurement.
// After a warm-up it alternates service and baseline on GET /health/live for BENCH_ROUNDS rounds
// (the order flips every round), measures GET /health/ready (a database-backed read) each round,
// prints medians and the service/baseline ratio, and writes a JSON result file.
//
// Environment (all optional):
//   BENCH_ROUNDS (3)  BENCH_DURATION_S (10)  BENCH_CONNECTIONS (50)  BENCH_WARMUP_S (3)
//   BENCH_READY_TIMEOUT_S (90)  BENCH_LOG_LEVEL (info: the service's default)
//   BENCH_TARGET_RATIO (0.70)  BENCH_ENFORCE (unset; 1 = exit 2 when the ratio is below target)
//   BENCH_KEEP_DATA (unset; 1 = keep the temporary DATA_DIR)
// Exit codes: 0 measured; 1 failed (start-up, crash, time-out, or a measurement with errors or
// non-2xx answers); 2 BENCH_ENFORCE=1 and the ratio is below target; 130 interrupted.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  HOST, benchDir, fmt, freePort, hasExited, intEnv, peakRssMiB, repoRoot, resultsDir, runLoad as runLoadWith, serviceEnv,
  startLogged, stopAllChildren, summarise, superviseRun, tail, waitForOk,
} from './lib.mjs';

const settings = {
  rounds: Math.round(intEnv('BENCH_ROUNDS', 3, 1)),
  durationS: intEnv('BENCH_DURATION_S', 10, 1),
  connections: Math.round(intEnv('BENCH_CONNECTIONS', 50, 1)),
  warmupS: intEnv('BENCH_WARMUP_S', 3, 0),
  readyTimeoutS: intEnv('BENCH_READY_TIMEOUT_S', 90, 5),
  targetRatio: intEnv('BENCH_TARGET_RATIO', 0.7, 0),
  logLevel: process.env.BENCH_LOG_LEVEL || 'info',
  enforce: process.env.BENCH_ENFORCE === '1',
  keepData: process.env.BENCH_KEEP_DATA === '1',
};

let tempDir;
let cleanupPromise;
/** Idempotent: every caller waits for the same, complete cleanup. */
function cleanup() {
  cleanupPromise ??= (async () => {
    await stopAllChildren();
    if (tempDir && !settings.keepData) rmSync(tempDir, { recursive: true, force: true });
  })();
  return cleanupPromise;
}

const runLoad = (url, durationS) => runLoadWith(url, { connections: settings.connections, durationS });

// ---------------------------------------------------------------------------------------------

async function main() {
  const mainJs = path.join(repoRoot, 'dist', 'main.js');
  if (!existsSync(mainJs)) throw new Error('dist/main.js is missing: run `npm run bench` (it builds first)');
  if (settings.rounds < 3) console.warn(`bench: BENCH_ROUNDS=${settings.rounds}; DESIGN §9 asks for at least 3 alternations`);

  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const serverLog = path.join(resultsDir, `server-${stamp}.log`);
  const baselineLog = path.join(resultsDir, `baseline-${stamp}.log`);
  const resultFile = path.join(resultsDir, `bench-${stamp}.json`);

  tempDir = mkdtempSync(path.join(os.tmpdir(), 'vutf-bench-'));
  const dataDir = path.join(tempDir, 'data');
  const policyFile = path.join(tempDir, 'policy.yaml');
  // Lifts the per-IP tier (600/min otherwise) so it cannot throttle the load: ≤ 1,000,000 is the schema's maximum.
  writeFileSync(policyFile, 'rateLimits:\n  perIp:\n    limit: 1000000\n    windowSeconds: 60\n');
  const metricsToken = randomBytes(32).toString('hex');

  const [serverPort, baselinePort] = [await freePort(), await freePort()];
  const serverUrl = `http://${HOST}:${serverPort}`;
  const baselineUrl = `http://${HOST}:${baselinePort}`;

  // Embedded mode on purpose: whatever server-mode variables the caller has are not passed on.
  const serverEnv = serviceEnv();
  Object.assign(serverEnv, {
    PORT: String(serverPort),
    HOST,
    DATA_DIR: dataDir,
    POLICY_FILE: policyFile,
    METRICS_TOKEN: metricsToken,
    LOG_LEVEL: settings.logLevel,
    BOOTSTRAP_ADMIN_EMAIL: 'bench-admin@example.test',
    BOOTSTRAP_ADMIN_PASSWORD: randomBytes(24).toString('base64url'),
  });

  const loadAtStart = os.loadavg();
  console.log(`bench: ${os.cpus().length} CPUs, load average ${loadAtStart.map((value) => value.toFixed(2)).join(' ')}, node ${process.version}`);
  if (loadAtStart[0] > os.cpus().length * 0.5) console.warn('bench: the machine is busy; figures will be noisy');
  console.log(`bench: rounds ${settings.rounds}, ${settings.durationS} s each, ${settings.connections} connections, warm-up ${settings.warmupS} s`);
  console.log(`bench: service log ${path.relative(repoRoot, serverLog)}`);

  const startedAt = new Date();
  const server = startLogged('service', [mainJs], serverEnv, serverLog);
  const baselineEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  const baseline = startLogged('baseline', [path.join(benchDir, 'baseline-server.mjs'), '--port', String(baselinePort), '--host', HOST], baselineEnv, baselineLog);

  const readyStart = Date.now();
  await Promise.all([
    waitForOk(`${serverUrl}/health/ready`, server, 'service', serverLog, settings.readyTimeoutS * 1000),
    waitForOk(`${baselineUrl}/health/live`, baseline, 'baseline', baselineLog, 30_000),
  ]);
  const startupMs = Date.now() - readyStart;
  console.log(`bench: service ready in ${(startupMs / 1000).toFixed(1)} s (pid ${server.pid}), baseline pid ${baseline.pid}`);

  const targets = {
    serverLive: { label: 'service  GET /health/live', url: `${serverUrl}/health/live` },
    baselineLive: { label: 'baseline GET /health/live', url: `${baselineUrl}/health/live` },
    serverReady: { label: 'service  GET /health/ready', url: `${serverUrl}/health/ready` },
  };
  const measure = async (key, durationS, round) => {
    if (hasExited(server)) throw new Error(`the service exited during the benchmark:\n${tail(serverLog)}`);
    if (hasExited(baseline)) throw new Error(`the baseline exited during the benchmark:\n${tail(baselineLog)}`);
    const result = await runLoad(targets[key].url, durationS);
    const tag = round === null ? 'warm-up' : `round ${round}`;
    console.log(
      `  ${tag.padEnd(8)} ${targets[key].label.padEnd(27)} ${fmt(result.requestsPerSec).padStart(8)} req/s  ` +
        `p50 ${fmt(result.latencyP50Ms, 2).padStart(6)} ms  p99 ${fmt(result.latencyP99Ms, 2).padStart(7)} ms` +
        (result.non2xx || result.errors || result.timeouts ? `  non-2xx ${result.non2xx} errors ${result.errors} timeouts ${result.timeouts}` : ''),
    );
    return result;
  };

  if (settings.warmupS > 0) {
    for (const key of ['serverLive', 'baselineLive', 'serverReady']) await measure(key, settings.warmupS, null);
  }

  const samples = { serverLive: [], baselineLive: [], serverReady: [] };
  for (let round = 1; round <= settings.rounds; round += 1) {
    // Alternate which goes first so drift on a shared machine does not favour one side.
    const order = round % 2 === 1 ? ['serverLive', 'baselineLive'] : ['baselineLive', 'serverLive'];
    for (const key of [...order, 'serverReady']) samples[key].push(await measure(key, settings.durationS, round));
  }

  // One authenticated read with the metrics token: proves the token works and records the
  // per-component latencies the service itself sees after the load.
  let healthDetails;
  try {
    const response = await fetch(`${serverUrl}/health/details`, {
      headers: { authorization: `Bearer ${metricsToken}` },
      signal: AbortSignal.timeout(5000),
    });
    healthDetails = { status: response.status, body: await response.json() };
  } catch (error) {
    healthDetails = { error: error.message };
  }
  const serverPeakRssMiB = peakRssMiB(server.pid);
  const baselinePeakRssMiB = peakRssMiB(baseline.pid);

  const summary = Object.fromEntries(Object.entries(samples).map(([key, runs]) => [key, summarise(runs)]));
  const ratio = summary.serverLive.requestsPerSec / summary.baselineLive.requestsPerSec;
  const pairedRatios = samples.serverLive.map((run, index) => run.requestsPerSec / samples.baselineLive[index].requestsPerSec);
  const meetsTarget = ratio >= settings.targetRatio;
  const valid = Object.values(summary).every((entry) => entry.non2xx === 0 && entry.errors === 0);

  console.log(`\nMedians of ${settings.rounds} rounds (${settings.durationS} s, ${settings.connections} connections each):\n`);
  console.log(`${'target'.padEnd(28)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'non-2xx'.padStart(10)}${'errors'.padStart(8)}`);
  for (const [key, entry] of Object.entries(summary)) {
    console.log(
      `${targets[key].label.padEnd(28)}${fmt(entry.requestsPerSec).padStart(10)}${fmt(entry.latencyP50Ms, 2).padStart(10)}` +
        `${fmt(entry.latencyP99Ms, 2).padStart(10)}${String(entry.non2xx).padStart(10)}${String(entry.errors).padStart(8)}`,
    );
  }
  console.log(
    `\nservice/baseline req/s on /health/live: ${ratio.toFixed(3)} (target ≥ ${settings.targetRatio.toFixed(2)}: ${meetsTarget ? 'met' : 'NOT met'}); ` +
      `per round ${pairedRatios.map((value) => value.toFixed(3)).join(', ')}`,
  );
  if (healthDetails.body?.components) {
    const components = Object.entries(healthDetails.body.components).map(([name, c]) => `${name} ${c.status} ${c.latencyMs} ms`);
    console.log(`/health/details after the load (metrics token): ${healthDetails.body.status}; ${components.join(', ')}`);
  } else {
    console.log(`/health/details after the load (metrics token): ${JSON.stringify(healthDetails)}`);
  }
  if (!valid) console.error('bench: some requests failed or answered non-2xx: these figures are not a valid measurement');

  const finishedAt = new Date();
  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}`, loadAverageAtStart: loadAtStart, loadAverageAtEnd: os.loadavg() },
    settings: { ...settings, mode: 'embedded', perIpRateLimit: { limit: 1_000_000, windowSeconds: 60 } },
    serverStartupToReadyMs: startupMs,
    summary,
    ratio: { serverToBaselineLive: ratio, pairedPerRound: pairedRatios, target: settings.targetRatio, met: meetsTarget },
    valid,
    healthDetails,
    peakRssMiB: { server: serverPeakRssMiB, baseline: baselinePeakRssMiB },
    runs: samples,
    logs: { server: path.relative(repoRoot, serverLog), baseline: path.relative(repoRoot, baselineLog) },
  };
  writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  copyFileSync(resultFile, path.join(resultsDir, 'latest.json'));
  console.log(`\nbench: results in ${path.relative(repoRoot, resultFile)} (and bench/results/latest.json)`);

  await cleanup();
  if (!valid) return 1;
  if (settings.enforce && !meetsTarget) return 2;
  return 0;
}

// Bounded in time whatever happens: start-up, warm-ups and rounds, each with a margin.
const budgetS = settings.readyTimeoutS + 3 * (settings.warmupS + 30) + settings.rounds * 3 * (settings.durationS + 30) + 60;
superviseRun(cleanup, budgetS)(main());
