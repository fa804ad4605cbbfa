import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverUrls, uniqueName } from './environment.js';
import { freePort, seedDataDirFromSnapshot } from './service-process.js';
import { testKeysEnv } from './test-app.js';

/**
 * The BUILT service (`node dist/main.js`, what `npm start` runs after its build, and `node dist/worker.js`)
 * as separate processes driven through HTTP only, as an operator would: the acceptance tests of the scan
 * engine and the findings share it. Embedded: a copy of the migrated empty data directory, the admin's
 * one-time password from DATA_DIR. Server: a fresh schema and Redis prefix, the API plus one worker.
 */

export const root = path.resolve(import.meta.dirname, '../..');

export const NEW_PASSWORD = 'an acceptance passphrase nobody guesses 8813';
export const SERVER_ADMIN = { email: 'acceptance-admin@example.test', password: 'server acceptance admin passphrase 5521' };
export const TERMINAL = new Set(['completed', 'cancelled', 'failed', 'partial']);

export interface Service {
  base: string;
  dataDir: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `node dist/<entry>` with exactly `env` (plus PATH): nothing of this test process leaks in. */
function startBuilt(entry: 'main.js' | 'worker.js', env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [path.join(root, 'dist', entry)], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // Always drained (a full pipe would stall the process); only the tail is kept, for failure messages.
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, output: () => output, stop };
}

async function untilReady(base: string, alive: () => boolean, output: () => string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await fetch(`${base}/health/ready`).then((response) => response.status, () => 0);
    if (status === 200) return;
    if (!alive() || Date.now() > deadline) throw new Error(`the service did not become ready:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startEmbedded(): Promise<Service> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-accept-'));
  // The migrated empty database (what the first start's initdb + migrations make), to save the initdb seconds.
  await seedDataDirFromSnapshot(dataDir);
  const port = await freePort();
  const api = startBuilt('main.js', { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
  const base = `http://127.0.0.1:${port}`;
  await untilReady(base, () => api.child.exitCode === null, api.output);
  return { base, dataDir, output: api.output, stop: api.stop };
}

/**
 * What a built server-mode process needs: its own schema (dropped with this run's other schemas in
 * global-setup.ts), a data directory, the test keys, the bootstrap admin and the Redis prefix.
 */
export async function serverProcessEnv(
  urls: { databaseUrl: string; redisUrl: string },
  options: { dataDirPrefix: string; logLevel: string; extraEnv?: Record<string, string> },
): Promise<{ schema: string; dataDir: string; env: Record<string, string> }> {
  const schema = uniqueName(inject('testSchemaPrefix'));
  const admin = new pg.Client({ connectionString: urls.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const databaseUrl = new URL(urls.databaseUrl);
  databaseUrl.searchParams.set('options', `-c search_path=${schema}`);
  const dataDir = mkdtempSync(path.join(tmpdir(), options.dataDirPrefix));
  const env = {
    ...options.extraEnv,
    ...testKeysEnv(),
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL: urls.redisUrl,
    REDIS_PREFIX: schema,
    BOOTSTRAP_ADMIN_EMAIL: SERVER_ADMIN.email,
    BOOTSTRAP_ADMIN_PASSWORD: SERVER_ADMIN.password,
    LOG_LEVEL: options.logLevel,
  };
  return { schema, dataDir, env };
}

export async function startServer(urls: { databaseUrl: string; redisUrl: string }): Promise<Service> {
  const { dataDir, env } = await serverProcessEnv(urls, { dataDirPrefix: 'vutf-accept-', logLevel: 'warn' });
  const port = await freePort();
  const api = startBuilt('main.js', { ...env, PORT: String(port), HOST: '127.0.0.1' });
  const base = `http://127.0.0.1:${port}`;
  await untilReady(base, () => api.child.exitCode === null, api.output);
  // Started after the API migrated the schema; the API process itself runs no jobs in server mode.
  const worker = startBuilt('worker.js', env);
  return {
    base,
    dataDir,
    output: () => `api:\n${api.output()}\nworker:\n${worker.output()}`,
    stop: async () => {
      await Promise.all([worker.stop(), api.stop()]);
    },
  };
}

/** A JSON call as any HTTP client makes it. */
export async function api<T>(service: Service, method: string, url: string, token?: string, body?: unknown): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(`${service.base}/api/v1${url}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T, headers: response.headers };
}

export async function signIn(service: Service, email: string, password: string): Promise<string> {
  const login = await api<{ accessToken: string }>(service, 'POST', '/auth/login', undefined, { email, password });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  return login.body.accessToken;
}

/** Embedded first start: the admin's one-time password is in DATA_DIR and must be changed before anything else. */
export async function signInFirstTime(service: Service): Promise<string> {
  const oneTime = readFileSync(path.join(service.dataDir, 'initial-admin-password'), 'utf8').trim();
  const first = await signIn(service, 'admin@localhost', oneTime);
  expect((await api(service, 'GET', '/targets', first)).status).toBe(403);
  const change = await api(service, 'POST', '/users/me/password', first, { currentPassword: oneTime, newPassword: NEW_PASSWORD });
  expect(change.status, JSON.stringify(change.body)).toBe(204);
  return signIn(service, 'admin@localhost', NEW_PASSWORD);
}


/**
 * One acceptance run on the built service in each mode: embedded always, server (API + one worker on
 * PostgreSQL and Redis) when DATABASE_URL and REDIS_URL are set. A failure message carries the service's output.
 */
export function describeOnBuiltService(title: string, run: (service: Service, token: string) => Promise<void>, timeoutMs = 60_000) {
  beforeAll(async () => {
    // What `npm start` does first; incremental, so well under a second when dist/ is current.
    await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: root, timeout: 170_000 });
  }, 180_000);

  const modes: Array<{ name: string; start: () => Promise<Service>; token: (service: Service) => Promise<string> }> = [
    { name: 'embedded (node dist/main.js)', start: startEmbedded, token: signInFirstTime },
  ];
  const urls = serverUrls();
  if (urls) {
    modes.push({
      name: 'server (node dist/main.js + node dist/worker.js on PostgreSQL and Redis)',
      start: () => startServer(urls),
      token: (service) => signIn(service, SERVER_ADMIN.email, SERVER_ADMIN.password),
    });
  }
  for (const mode of modes) {
    describe(mode.name, () => {
      let service: Service | undefined;
      beforeAll(async () => {
        service = await mode.start();
      }, 60_000);
      afterAll(async () => {
        await service?.stop();
        if (service) rmSync(service.dataDir, { recursive: true, force: true });
      });

      it(title, async () => {
        try {
          await run(service!, await mode.token(service!));
        } catch (error) {
          throw new Error(`${(error as Error).message}\n--- service output ---\n${service!.output()}`, { cause: error });
        }
      }, timeoutMs);
    });
  }
}
