import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { root, serverProcessEnv } from './built-service.js';
import { freePort, seedDataDirFromSnapshot } from './service-process.js';

/**
 * The built service for the at-rest canary proof (issue 9 §2): like built-service.ts, but every line
 * every process writes (stdout and stderr, in full, not a tail) is kept so the test can search it, and
 * the caller adds environment (SMTP relay, policy file). Embedded: `node dist/main.js` on a seeded
 * DATA_DIR. Server: `node dist/main.js` + `node dist/worker.js` on a fresh schema and Redis prefix.
 */
export interface CanaryService {
  base: string;
  dataDir: string;
  mode: 'embedded' | 'server';
  /** Server mode: the schema (also the Redis prefix) and the plain database URL (no search_path option). */
  schema?: string;
  databaseUrl?: string;
  redisUrl?: string;
  /** Every byte every process wrote so far, per process. */
  logs(): Array<{ process: string; text: string }>;
  stop(): Promise<void>;
}

function spawnBuilt(name: string, entry: 'main.js' | 'worker.js', env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [path.join(root, 'dist', entry)], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => chunks.push(chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    alive: () => child.exitCode === null && child.signalCode === null,
    log: () => ({ process: name, text: Buffer.concat(chunks).toString('utf8') }),
    // SIGTERM is a graceful shutdown: buffered log lines are flushed and PGlite writes its files.
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function untilReady(base: string, alive: () => boolean, output: () => string) {
  // Generous: a loaded machine (and migrations on a fresh schema) can take a while.
  const deadline = Date.now() + 150_000;
  for (;;) {
    const status = await fetch(`${base}/health/ready`).then((response) => response.status, () => 0);
    if (status === 200) return;
    if (!alive() || Date.now() > deadline) throw new Error(`the service did not become ready (${alive() ? 'still starting' : 'exited'}):\n${output().slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A policy file in `dir` (YAML is a superset of JSON). */
export function writePolicy(dir: string, policy: unknown): string {
  const file = path.join(dir, 'policy.json');
   
  writeFileSync(file, JSON.stringify(policy));
  return file;
}

export async function startCanaryEmbedded(extraEnv: Record<string, string>, logLevel: string): Promise<CanaryService> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-canary-'));
  await seedDataDirFromSnapshot(dataDir);
  const port = await freePort();
  const apiProcess = spawnBuilt('api', 'main.js', { ...extraEnv, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: logLevel });
  const base = `http://127.0.0.1:${port}`;
  await untilReady(base, apiProcess.alive, () => apiProcess.log().text);
  return { base, dataDir, mode: 'embedded', logs: () => [apiProcess.log()], stop: apiProcess.stop };
}

export async function startCanaryServer(urls: { databaseUrl: string; redisUrl: string }, extraEnv: Record<string, string>, logLevel: string): Promise<CanaryService> {
  const { schema, dataDir, env } = await serverProcessEnv(urls, { dataDirPrefix: 'vutf-canary-', logLevel, extraEnv });
  const port = await freePort();
  const apiProcess = spawnBuilt('api', 'main.js', { ...env, PORT: String(port), HOST: '127.0.0.1' });
  const base = `http://127.0.0.1:${port}`;
  await untilReady(base, apiProcess.alive, () => apiProcess.log().text);
  const worker = spawnBuilt('worker', 'worker.js', env);
  return {
    base,
    dataDir,
    mode: 'server',
    schema,
    databaseUrl: urls.databaseUrl,
    redisUrl: urls.redisUrl,
    logs: () => [apiProcess.log(), worker.log()],
    stop: async () => {
      await Promise.all([worker.stop(), apiProcess.stop()]);
    },
  };
}
