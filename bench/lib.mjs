/* global process, console, fetch, AbortSignal, setTimeout, clearTimeout, URL -- Node globals (the lint config declares none for .mjs files) */
/* eslint-disable security/detect-non-literal-fs-filename -- every path is built by the bench scripts, under bench/results or a temp dir */
// What the benchmark orchestrators (run.mjs, auth.mjs, audit-write.mjs, scan.mjs) share: child-process tracking and clean-up,
// free ports, medians, starting logged processes, waiting for readiness, one load.mjs run, a server-mode schema.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const HOST = '127.0.0.1';
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const benchDir = path.join(repoRoot, 'bench');
export const resultsDir = path.join(benchDir, 'results');

export function intEnv(name, fallback, minimum) {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < minimum) throw new Error(`${name} must be a number ≥ ${minimum}, got ${raw}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked and ended on success, error, SIGINT/SIGTERM and exit.

const children = new Map(); // ChildProcess -> name

export function track(child, name) {
  children.set(child, name);
  child.once('exit', () => children.delete(child));
  return child;
}

export const hasExited = (child) => child.exitCode !== null || child.signalCode !== null;

function waitForExit(child, timeoutMs) {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM (the service drains and closes PGlite), then SIGKILL if it does not exit in time. */
async function stopChild(child, graceMs = 15_000) {
  if (hasExited(child)) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, graceMs)) return;
  console.error(`bench: ${children.get(child) ?? 'child'} did not stop in ${graceMs} ms; killing it`);
  child.kill('SIGKILL');
  await waitForExit(child, 5000);
}

export const stopAllChildren = () => Promise.all([...children.keys()].map((child) => stopChild(child)));

/**
 * What one benchmark run leaves behind, removed once at its end or on a signal: its children, its temporary
 * directory and its server-mode schemas. `keepData` keeps the directory and the schemas to look at afterwards.
 */
export function createRunResources(keepData) {
  const dropSchemas = [];
  let tempDir;
  let cleaning;
  return {
    dropSchemas,
    makeTempDir: (prefix) => (tempDir = mkdtempSync(path.join(os.tmpdir(), prefix))),
    cleanup: () =>
      (cleaning ??= (async () => {
        await stopAllChildren();
        if (tempDir && !keepData) rmSync(tempDir, { recursive: true, force: true });
        if (!keepData) for (const drop of dropSchemas) await drop().catch((error) => console.error(`bench: could not drop a schema: ${error.message}`));
      })()),
  };
}

/**
 * Wires the last-resort handlers: no child outlives the benchmark, Ctrl-C stops everything (exit
 * 130), and a watchdog ends a run that overruns `budgetS`. Returns `finish(promise)`, which exits
 * with the promise's code after `cleanup`.
 */
export function superviseRun(cleanup, budgetS) {
  let interrupted = false;
  process.on('exit', () => {
    for (const child of children.keys()) if (!hasExited(child)) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      interrupted = true;
      console.error(`\nbench: ${signal}, stopping child processes`);
      cleanup().finally(() => process.exit(130));
    });
  }
  const watchdog = setTimeout(() => {
    console.error(`bench: overran its ${budgetS} s budget; stopping`);
    cleanup().finally(() => process.exit(1));
  }, budgetS * 1000);
  watchdog.unref();
  return (promise) =>
    promise.then(
      async (code) => {
        clearTimeout(watchdog);
        await cleanup();
        process.exit(code);
      },
      async (error) => {
        clearTimeout(watchdog);
        // After a signal the failures are only the children being stopped; the signal handler exits.
        if (interrupted) return;
        console.error(`bench: ${error.message}`);
        await cleanup();
        process.exit(1);
      },
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function median(values) {
  const sorted = values.filter((value) => typeof value === 'number' && Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Medians over the rounds of one target's measurements, and the failure counts summed. */
export const summarise = (runs) => ({
  requestsPerSec: median(runs.map((run) => run.requestsPerSec)),
  latencyP50Ms: median(runs.map((run) => run.latencyP50Ms)),
  latencyP99Ms: median(runs.map((run) => run.latencyP99Ms)),
  non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
  errors: runs.reduce((sum, run) => sum + run.errors + run.timeouts, 0),
});

export const tail = (file, lines = 20) => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
};

/** Starts a node script with stdout and stderr going to a log file. */
export function startLogged(name, args, env, logFile) {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return track(child, name);
}

/** Polls `url` until it answers 200; fails early if the process exits, or at the deadline. */
export async function waitForOk(url, child, name, logFile, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(`${name} exited (code ${child.exitCode ?? child.signalCode}) before ${url} was ready:\n${tail(logFile)}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await sleep(250);
  }
  throw new Error(`${name}: ${url} not ready within ${timeoutMs / 1000} s (last: ${last}):\n${tail(logFile)}`);
}

/**
 * One bench/load.mjs process; resolves with its JSON line. `options`: connections, durationS,
 * method, rate (overall requests/s), and `secret` ({ headers, body }) passed through the
 * environment so tokens and passwords stay out of `ps`.
 */
export function runLoad(url, { connections, durationS, method, rate, secret = {} }) {
  const args = [path.join(benchDir, 'load.mjs'), '--url', url, '--connections', String(connections), '--duration', String(durationS)];
  if (method) args.push('--method', method);
  if (rate) args.push('--rate', String(rate));
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  if (secret.headers) env.LOAD_HEADERS = JSON.stringify(secret.headers);
  if (secret.body !== undefined) env.LOAD_BODY = secret.body;
  const child = track(spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] }), 'load generator');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const limitMs = (durationS + 30) * 1000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`load generator overran ${limitMs / 1000} s on ${url}`));
    }, limitMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`load generator failed on ${url} (${code ?? signal}): ${stderr.trim()}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)));
      } catch {
        reject(new Error(`load generator printed no JSON for ${url}: ${stdout.trim()} ${stderr.trim()}`));
      }
    });
  });
}

export const fmt = (value, digits = 0) =>
  value === null || value === undefined ? '-' : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function peakRssMiB(pid) {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** The service's environment: the caller's, minus every server-mode variable and secret unless `keep` lists it. */
export function serviceEnv(keep = []) {
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SIGNING_KEYS', 'ENCRYPTION_KEYRING', 'BLIND_INDEX_KEY', 'AUDIT_SIGNING_KEY', 'NODE_ENV', 'PUBLIC_URL', 'TRUST_PROXY', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
    if (keep.includes(name)) continue;
    delete env[name];
    delete env[`${name}_FILE`];
  }
  return env;
}

/**
 * Server mode: a schema of its own in DATABASE_URL's database (search_path through the URL) and fresh
 * keys, for one service process. `drop` removes the schema at the end. Redis keys share the service's
 * fixed prefix, so nothing there is flushed.
 */
export async function serverModeEnv(name) {
  const { default: pg } = await import('pg');
  const run = async (statement) => {
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  const schema = `bench_${name}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`.replace(/[^a-z0-9_]/g, '_');
  await run(`CREATE SCHEMA ${schema}`);
  const url = new URL(process.env.DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const { formatKeyring, generateKeyring } = await import(pathToFileURL(path.join(repoRoot, 'dist', 'platform', 'crypto', 'index.js')).href);
  const keys = Object.fromEntries(['JWT_SIGNING_KEYS', 'ENCRYPTION_KEYRING', 'BLIND_INDEX_KEY', 'AUDIT_SIGNING_KEY'].map((key) => [key, formatKeyring(generateKeyring())]));
  return { env: { ...keys, DATABASE_URL: url.href }, drop: () => run(`DROP SCHEMA ${schema} CASCADE`) };
}
