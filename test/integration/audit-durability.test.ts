import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/platform/db/database.js';
import { BOOTSTRAP_ADMIN, createTestBackend, type TestBackend } from '../setup/test-app.js';
import { freePort, seedDataDirFromSnapshot } from '../setup/service-process.js';

/**
 * Issue 4: "a read's event is durable before its response is sent". The real service runs as its own
 * process; audited reads and writes go to it concurrently; it is SIGKILLed mid-load (no drain, no
 * close); then the database it leaves behind must hold an event for every request it acknowledged
 * with a 2xx, and every acknowledged write's row.
 */
const root = path.resolve(import.meta.dirname, '../..');
const CONCURRENCY = 8;
// The kill comes after LOAD_MS once MIN_EACH reads and writes are acknowledged (a busy machine is slow), at MAX_LOAD_MS at the latest.
const LOAD_MS = 2000;
const MIN_EACH = 30;
const MAX_LOAD_MS = 15_000;
const MAX_REQUESTS = 2000; // bound, whatever the machine's speed
const lifted = { limit: 1_000_000, windowSeconds: 60 };

interface Acknowledged {
  kind: 'read' | 'write';
  requestId: string;
  orgId?: string;
}

let backend: TestBackend;
let child: ChildProcess;
let output = '';
let baseUrl: string;

beforeAll(async () => {
  backend = await createTestBackend();
  const dataDir = backend.env.DATA_DIR!;
  // Embedded: start from the migrated snapshot (no initdb). Server: the backend's own schema.
  if (!backend.env.DATABASE_URL) await seedDataDirFromSnapshot(dataDir);
  const policyFile = path.join(dataDir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ rateLimits: { perIp: lifted, authentication: lifted, read: lifted, write: lifted } }));
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  // Redis keys use the service's fixed `vutf` prefix: a spawned process cannot be given another one.
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...backend.env, LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(port), POLICY_FILE: policyFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited before it was ready:\n${output}`);
    const status = await fetch(`${baseUrl}/health/ready`).then((response) => response.status, () => 0);
    if (status === 200) break;
    if (Date.now() - started > 40_000) throw new Error(`service did not become ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await backend?.cleanup();
});

async function call(method: string, url: string, token?: string, body?: unknown) {
  const response = await fetch(`${baseUrl}${url}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, requestId: response.headers.get('x-request-id'), body: (await response.json()) as Record<string, unknown> };
}

/**
 * Concurrent audited reads and writes until `killed()`; no request starts after it, so the failures
 * are the requests in flight when the process died.
 */
async function load(token: string, userId: string, acknowledged: Acknowledged[], killed: () => boolean) {
  let sent = 0;
  let cutOff = 0;
  let refused = 0;
  const worker = async (workerId: number) => {
    for (let n = 0; !killed() && sent < MAX_REQUESTS; n++) {
      sent++;
      const write = (n + workerId) % 2 === 0;
      try {
        const response = write
          ? await call('POST', '/api/v1/orgs', token, { name: `Durable ${workerId}-${n}`, slug: `durable-${workerId}-${n}` })
          : await call('GET', `/api/v1/users/${userId}`, token);
        if (response.status >= 200 && response.status < 300 && response.requestId) {
          acknowledged.push({ kind: write ? 'write' : 'read', requestId: response.requestId, ...(write ? { orgId: String(response.body.id) } : {}) });
        } else {
          refused++;
        }
      } catch {
        // The connection died with the process: not acknowledged, so nothing is owed.
        cutOff++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, index) => worker(index)));
  return { acknowledged, sent, cutOff, refused };
}

/** The database the killed process left behind, opened as the next service start would open it. */
function reopen(): Promise<DatabaseHandle> {
  const config = loadConfig({ ...backend.env, LOG_LEVEL: 'silent' });
  return openDatabase({
    mode: config.mode,
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    poolMax: 2,
    statementTimeoutMs: 10_000,
    breaker: { run: (fn) => fn() },
    logger: { warn: () => undefined },
  });
}

describe('audit durability under a crash', () => {
  it('[ASVS 16.3.2] after SIGKILL mid-load, every acknowledged audited read and write has its event (and every write its row)', async () => {
    const login = await call('POST', '/api/v1/auth/login', undefined, BOOTSTRAP_ADMIN);
    expect(login.status).toBe(200);
    const token = String(login.body.accessToken);
    const me = await call('GET', '/api/v1/users/me', token);
    expect(me.status).toBe(200);
    const userId = String(me.body.id);

    let killed = false;
    let killedAfterMs = 0;
    const acknowledged: Acknowledged[] = [];
    const count = (kind: Acknowledged['kind']) => acknowledged.filter((entry) => entry.kind === kind).length;
    const exited = new Promise<string | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    const started = Date.now();
    const killer = setInterval(() => {
      const elapsed = Date.now() - started;
      if (elapsed < LOAD_MS || (elapsed < MAX_LOAD_MS && (count('read') < MIN_EACH || count('write') < MIN_EACH))) return;
      clearInterval(killer);
      killed = true;
      killedAfterMs = elapsed;
      child.kill('SIGKILL');
    }, 20);
    const result = await load(token, userId, acknowledged, () => killed);
    expect(await exited).toBe('SIGKILL');

    const reads = result.acknowledged.filter((entry) => entry.kind === 'read');
    const writes = result.acknowledged.filter((entry) => entry.kind === 'write');
    expect(reads.length).toBeGreaterThanOrEqual(MIN_EACH);
    expect(writes.length).toBeGreaterThanOrEqual(MIN_EACH);
    const database = await reopen();
    try {
      const requestIds = result.acknowledged.map((entry) => entry.requestId);
      const events = await database.db
        .selectFrom('auditEvents')
        .select(['requestId', 'action', 'outcome', 'resourceId'])
        .where('requestId', 'in', requestIds)
        .execute();
      const byRequest = new Map(events.map((event) => [event.requestId, event]));
      const orgIds = writes.map((entry) => entry.orgId!);
      const orgRows = await database.db.selectFrom('organisations').select('id').where('id', 'in', orgIds).execute();
      const stored = new Set(orgRows.map((row) => row.id));

      const missingReads = reads.filter((entry) => byRequest.get(entry.requestId)?.action !== 'user.read');
      const missingWrites = writes.filter((entry) => byRequest.get(entry.requestId)?.action !== 'org.created' || byRequest.get(entry.requestId)?.resourceId !== entry.orgId);
      const missingOrgs = writes.filter((entry) => !stored.has(entry.orgId!));
      console.log(
        `audit durability (${database.kind}, killed after ${killedAfterMs} ms): sent ${result.sent}, acknowledged ${result.acknowledged.length} ` +
          `(${reads.length} reads, ${writes.length} writes), in flight at the kill ${result.cutOff}, non-2xx ${result.refused}; ` +
          `events found ${events.length}; missing: ${missingReads.length} read events, ${missingWrites.length} write events, ${missingOrgs.length} org rows`,
      );
      expect(result.refused).toBe(0);
      expect(missingReads).toEqual([]);
      expect(missingWrites).toEqual([]);
      expect(missingOrgs).toEqual([]);
      expect(events.every((event) => event.outcome === 'success')).toBe(true);
    } finally {
      await database.close();
    }
  }, 45_000);
});
