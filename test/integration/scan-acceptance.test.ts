import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverUrls, uniqueName } from '../setup/environment.js';
import { freePort, seedDataDirFromSnapshot } from '../setup/service-process.js';
import { openEventStream, type SseEvent } from '../setup/sse-client.js';
import { testKeysEnv } from '../setup/test-app.js';

/**
 * Issue 6 acceptance, first bullet: the BUILT service (`node dist/main.js`, what `npm start` runs after
 * its build) as a separate process, driven through HTTP only, as an operator would: sign in as the
 * bootstrap admin, create a `sim:leaky` target, run the starter probes with the leak scorer, follow the
 * scan by Server-Sent Events to its end, read its attempts. Embedded mode always (the admin's one-time
 * password from DATA_DIR, changed on first sign-in); with DATABASE_URL and REDIS_URL also server mode:
 * the API process plus one `node dist/worker.js` that runs the chunks, on a fresh schema and Redis prefix.
 */

const root = path.resolve(import.meta.dirname, '../..');
const NEW_PASSWORD = 'an acceptance passphrase nobody guesses 8813';
const SERVER_ADMIN = { email: 'acceptance-admin@example.test', password: 'server acceptance admin passphrase 5521' };
const TERMINAL = new Set(['completed', 'cancelled', 'failed', 'partial']);

interface Service {
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

async function startEmbedded(): Promise<Service> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-accept-'));
  // The migrated empty database (what the first start's initdb + migrations make), to save the initdb seconds.
  await seedDataDirFromSnapshot(dataDir);
  const port = await freePort();
  const api = startBuilt('main.js', { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
  const base = `http://127.0.0.1:${port}`;
  await untilReady(base, () => api.child.exitCode === null, api.output);
  return { base, dataDir, output: api.output, stop: api.stop };
}

async function startServer(urls: { databaseUrl: string; redisUrl: string }): Promise<Service> {
  const schema = uniqueName(inject('testSchemaPrefix'));
  const admin = new pg.Client({ connectionString: urls.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`); // dropped with this run's other schemas (global-setup.ts)
  await admin.end();
  const databaseUrl = new URL(urls.databaseUrl);
  databaseUrl.searchParams.set('options', `-c search_path=${schema}`);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-accept-'));
  const port = await freePort();
  const env = {
    ...testKeysEnv(),
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL: urls.redisUrl,
    REDIS_PREFIX: schema,
    BOOTSTRAP_ADMIN_EMAIL: SERVER_ADMIN.email,
    BOOTSTRAP_ADMIN_PASSWORD: SERVER_ADMIN.password,
    LOG_LEVEL: 'warn',
  };
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
async function api<T>(service: Service, method: string, url: string, token?: string, body?: unknown): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(`${service.base}/api/v1${url}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T, headers: response.headers };
}

async function signIn(service: Service, email: string, password: string): Promise<string> {
  const login = await api<{ accessToken: string }>(service, 'POST', '/auth/login', undefined, { email, password });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  return login.body.accessToken;
}

/** Embedded first start: the admin's one-time password is in DATA_DIR and must be changed before anything else. */
async function signInFirstTime(service: Service): Promise<string> {
  const oneTime = readFileSync(path.join(service.dataDir, 'initial-admin-password'), 'utf8').trim();
  const first = await signIn(service, 'admin@localhost', oneTime);
  expect((await api(service, 'GET', '/targets', first)).status).toBe(403);
  const change = await api(service, 'POST', '/users/me/password', first, { currentPassword: oneTime, newPassword: NEW_PASSWORD });
  expect(change.status, JSON.stringify(change.body)).toBe(204);
  return signIn(service, 'admin@localhost', NEW_PASSWORD);
}

interface Attempt {
  cellIndex: number;
  probeId: string;
  verdict: 'succeeded' | 'resisted' | 'errored' | 'inconclusive';
  statusCode: number | null;
  scores: Array<{ scorerId: string; verdict: string; rationale: string }>;
}
type Coverage = Record<'succeeded' | 'resisted' | 'errored' | 'inconclusive' | 'done' | 'total' | 'requestsUsed', number>;

/** The whole acceptance run on one started service. */
async function acceptance(service: Service, token: string) {
  const probes = await api<{ items: Array<{ id: string; prompt: string }>; nextCursor: string | null }>(service, 'GET', '/probes?limit=100', token);
  expect(probes.status).toBe(200);
  expect(probes.body.nextCursor).toBeNull();
  expect(probes.body.items.length).toBeGreaterThanOrEqual(12);

  // Fast limits so the run stays short; one in flight gives several chunks (about 10 s of work each at this rate).
  const target = await api<{ id: string }>(service, 'POST', '/targets', token, { name: 'leaky support bot', kind: 'sim:leaky', config: {}, limits: { requestsPerMinute: 600, maxInFlight: 1 } });
  expect(target.status, JSON.stringify(target.body)).toBe(201);
  const samples = 2;
  const created = await api<{ id: string; status: string; planHash: string; plan: { cells: number; chunks: number } }>(service, 'POST', '/scans', token, {
    name: 'acceptance: starter probes against a leaky bot',
    targetId: target.body.id,
    probes: { ids: probes.body.items.map((probe) => probe.id) },
    scorers: [{ id: 'leak' }],
    samples,
    seed: 7,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const scanId = created.body.id;
  const cells = probes.body.items.length * samples;
  expect(created.headers.get('location')).toBe(`/api/v1/scans/${scanId}`);
  expect(created.body).toMatchObject({ status: 'queued', planHash: expect.stringMatching(/^[0-9a-f]{64}$/), plan: { cells } });
  expect(created.body.plan.chunks).toBeGreaterThan(1);

  // Follow the log from its start until the server ends the stream (after the final status).
  const stream = await openEventStream(`${service.base}/api/v1/scans/${scanId}/events`, { authorization: `Bearer ${token}` });
  expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: SseEvent[] = [];
  try {
    for (;;) {
      const event = await stream.nextEvent(40_000);
      events.push(event);
      if (event.event === 'status' && TERMINAL.has((event.data as { status: string }).status)) break;
    }
    await stream.ended(5_000);
  } finally {
    await stream.close();
  }
  const ids = events.map((event) => Number(event.id));
  expect(ids.every((id, index) => index === 0 || id > ids[index - 1]!), `ids ${ids.join(',')}`).toBe(true);
  const statuses = events.filter((event) => event.event === 'status').map((event) => (event.data as { status: string }).status);
  expect(statuses).toEqual(['queued', 'running', 'completed']);
  const progress = events.filter((event) => event.event === 'progress').map((event) => event.data as Coverage);
  expect(progress.length).toBeGreaterThan(0);
  for (const [index, step] of progress.entries()) {
    expect(step.succeeded + step.resisted + step.errored + step.inconclusive).toBe(step.done);
    expect(step.total).toBe(cells);
    if (index > 0) expect(step.done).toBeGreaterThanOrEqual(progress[index - 1]!.done);
  }

  const scan = await api<{ status: string; statusReason: string | null; coverage: Coverage; finishedAt: string | null }>(service, 'GET', `/scans/${scanId}`, token);
  expect(scan.status).toBe(200);
  expect(scan.body).toMatchObject({ status: 'completed', finishedAt: expect.any(String) });
  const { coverage } = scan.body;
  expect(coverage.succeeded + coverage.resisted + coverage.errored + coverage.inconclusive).toBe(cells);
  expect(coverage).toMatchObject({ done: cells, total: cells, errored: 0 });
  expect(coverage.requestsUsed).toBeGreaterThanOrEqual(cells);
  expect(coverage.succeeded).toBeGreaterThan(0);

  // Every attempt, page by page: exactly one per plan cell.
  const attempts: Attempt[] = [];
  for (let cursor: string | null = '', pages = 0; cursor !== null; pages++) {
    expect(pages).toBeLessThan(10);
    const page: { status: number; body: { items: Attempt[]; nextCursor: string | null } } = await api(service, 'GET', `/scans/${scanId}/attempts?limit=10${cursor ? `&cursor=${cursor}` : ''}`, token);
    expect(page.status).toBe(200);
    attempts.push(...page.body.items);
    cursor = page.body.nextCursor;
  }
  expect(attempts.map((attempt) => attempt.cellIndex).sort((a, b) => a - b)).toEqual(Array.from({ length: cells }, (_, cell) => cell));
  const count = (verdict: Attempt['verdict']) => attempts.filter((attempt) => attempt.verdict === verdict).length;
  expect({ succeeded: count('succeeded'), resisted: count('resisted'), errored: count('errored'), inconclusive: count('inconclusive') }).toEqual({
    succeeded: coverage.succeeded,
    resisted: coverage.resisted,
    errored: coverage.errored,
    inconclusive: coverage.inconclusive,
  });
  for (const attempt of attempts) {
    expect(attempt.statusCode).toBe(200);
    expect(attempt.scores.map((score) => score.scorerId)).toEqual(['leak']);
  }
  // The classic injection makes the simulation reveal its canary, in every sample.
  const ignorePrevious = attempts.filter((attempt) => attempt.probeId === 'starter.prompt-injection.ignore-previous');
  expect(ignorePrevious).toHaveLength(samples);
  for (const attempt of ignorePrevious) expect(attempt).toMatchObject({ verdict: 'succeeded', scores: [{ verdict: 'succeeded', rationale: expect.stringContaining('canary #1') }] });

  // A finished scan's log read to its end: 204 tells an EventSource to stop reconnecting.
  const again = await fetch(`${service.base}/api/v1/scans/${scanId}/events`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': String(ids.at(-1)) } });
  expect(again.status).toBe(204);
}

beforeAll(async () => {
  // What `npm start` does first; incremental, so well under a second when dist/ is current.
  await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: root, timeout: 170_000 });
}, 180_000);

describe('issue 6 acceptance: a leaky target scanned through the API of the built service', () => {
  describe('embedded (node dist/main.js)', () => {
    let service: Service | undefined;
    beforeAll(async () => {
      service = await startEmbedded();
    }, 60_000);
    afterAll(async () => {
      await service?.stop();
      if (service) rmSync(service.dataDir, { recursive: true, force: true });
    });

    it('signs in, creates a sim:leaky target, runs the starter probes, follows SSE to the end and reads one attempt per cell', async () => {
      try {
        await acceptance(service!, await signInFirstTime(service!));
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- service output ---\n${service!.output()}`, { cause: error });
      }
    }, 60_000);
  });

  const urls = serverUrls();
  describe.skipIf(!urls)('server (node dist/main.js + node dist/worker.js on PostgreSQL and Redis)', () => {
    let service: Service | undefined;
    beforeAll(async () => {
      service = await startServer(urls!);
    }, 60_000);
    afterAll(async () => {
      await service?.stop();
      if (service) rmSync(service.dataDir, { recursive: true, force: true });
    });

    it('the same run, with the chunks executed by the worker process', async () => {
      try {
        await acceptance(service!, await signIn(service!, SERVER_ADMIN.email, SERVER_ADMIN.password));
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- service output ---\n${service!.output()}`, { cause: error });
      }
    }, 60_000);
  });
});
