import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, seedDataDirFromSnapshot } from '../setup/service-process.js';

/**
 * The service as an operator runs it: a real process on a real port. Start-up, the
 * data-directory lock against a second service and `migrate`, and graceful shutdown that
 * drains an in-flight request and exits 0.
 */
const root = path.resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-proc-'));
const children: ChildProcess[] = [];


const run = (entry: string, env: Record<string, string>) => {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
};

const get = async (port: number, url: string) => {
  try {
    return (await fetch(`http://127.0.0.1:${port}${url}`)).status;
  } catch {
    return 0;
  }
};

let port: number;
let service: ReturnType<typeof run>;

// Compiled on the fly beside a busy suite: a bound for a hang, not a speed figure (that is the
// benchmark's, on the built service; DESIGN §9 keeps timings out of tests).
const READY_LIMIT_MS = 90_000;

beforeAll(async () => {
  await seedDataDirFromSnapshot(dataDir);
  port = await freePort();
  const started = performance.now();
  service = run('src/main.ts', { PORT: String(port) });
  while ((await get(port, '/health/ready')) !== 200) {
    if (performance.now() - started > READY_LIMIT_MS) throw new Error(`service did not become ready in ${READY_LIMIT_MS} ms:\n${service.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, READY_LIMIT_MS + 30_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('service process', () => {
  it('becomes ready on the embedded default, holding the lock and the initial password file (start time: bench/README.md)', () => {
    expect(existsSync(path.join(dataDir, 'service.lock'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'initial-admin-password'))).toBe(true);
    expect(service.output()).not.toContain(readFileSync(path.join(dataDir, 'initial-admin-password'), 'utf8').trim());
  });

  it('refuses a second service and `migrate` on the same data directory while it runs', async () => {
    const second = run('src/main.ts', { PORT: String(await freePort()) });
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/in use by process \d+/);
    const migrate = run('src/ops/migrate.ts', {});
    expect(await migrate.exited).toBe(1);
    expect(migrate.output()).toMatch(/in use by process \d+/);
    expect(await get(port, '/health/ready')).toBe(200);
  });

  it('on SIGTERM drains the in-flight request, closes everything and exits 0', async () => {
    const body = JSON.stringify({ name: 'Drained', slug: 'drained' });
    const response = new Promise<number>((resolve, reject) => {
      const pending = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/api/v1/orgs', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      pending.on('error', reject);
      // Half the body now, the rest after the signal: the request is in flight during shutdown. The
      // second's wait lets a loaded machine parse the headers first (a request that arrives after the
      // signal is refused with 503, as it should be).
      pending.write(body.slice(0, 10));
      setTimeout(() => {
        service.child.kill('SIGTERM');
        setTimeout(() => pending.end(body.slice(10)), 300);
      }, 1_000);
    });
    expect(await response).toBe(401); // answered (no credentials), not cut off
    expect(await service.exited).toBe(0);
    expect(service.output()).toContain('shutdown complete');
    expect(existsSync(path.join(dataDir, 'service.lock'))).toBe(false);
  });

  it('exits promptly even when nobody reads its stdout (a full pipe never holds shutdown)', async () => {
    const stalledPort = await freePort();
    const stalled = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, LOG_LEVEL: 'debug', PORT: String(stalledPort) },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    children.push(stalled);
    stalled.stdout!.pause(); // never read: the 64 KiB pipe buffer fills up
    const exited = new Promise<number | null>((resolve) => stalled.on('exit', (code) => resolve(code)));
    while ((await get(stalledPort, '/health/ready')) !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    // Enough access lines to fill the pipe several times over.
    for (let batch = 0; batch < 20; batch++) await Promise.all(Array.from({ length: 50 }, () => get(stalledPort, '/health/live')));
    const signalled = performance.now();
    stalled.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(performance.now() - signalled).toBeLessThan(5000);
  }, READY_LIMIT_MS + 30_000);

  it('`migrate` on a free data directory applies nothing new and says so (its last log lines are written out)', async () => {
    const migrate = run('src/ops/migrate.ts', {});
    expect(await migrate.exited).toBe(0);
    expect(migrate.output()).toContain('database already up to date');
  });
});
